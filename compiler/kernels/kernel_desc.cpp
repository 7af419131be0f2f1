#include "kernels/kernel_desc.h"

#include "kernels/families.h"

namespace rnnc::kernels {

const char *to_string(Family f) { return family_entry(f).name; }

std::string KernelDesc::workload_key() const {
  const FamilyEntry &e = family_entry(family);
  return e.name + e.sizes(*this);
}

std::string KernelDesc::name() const { return workload_key() + "_" + sched.key(); }

std::vector<ArgSig> signature(const KernelDesc &d) { return family_entry(d.family).signature(d); }

}  // namespace rnnc::kernels
