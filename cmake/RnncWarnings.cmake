# Warnings every rnnc target compiles with.
function(rnnc_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()
