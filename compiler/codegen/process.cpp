#include "codegen/process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace rnnc::codegen {

ProcessResult run_process(const std::vector<std::string> &argv) {
  ProcessResult r;
  int out[2];
  int err_pipe[2];  // reports an exec failure to the parent
  if (pipe(out) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("cannot create a pipe");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("cannot fork: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    close(out[0]);
    close(out[1]);
    close(err_pipe[0]);
    std::vector<char *> args;
    for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    const int e = errno;
    if (write(err_pipe[1], &e, sizeof e) < 0) _exit(127);
    _exit(127);
  }
  close(out[1]);
  close(err_pipe[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int exec_errno = 0;
  const bool exec_failed = read(err_pipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.started = !exec_failed;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

void run_checked(const std::vector<std::string> &argv, const std::string &what) {
  ProcessResult r = run_process(argv);
  if (!r.started) throw std::runtime_error(what + ": cannot run '" + argv[0] + "'");
  if (r.status != 0) {
    std::string cmd;
    for (const auto &a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    throw std::runtime_error(what + " failed (exit status " + std::to_string(r.status) + "):\n  " + cmd + "\n" +
                             r.output);
  }
}

}  // namespace rnnc::codegen
