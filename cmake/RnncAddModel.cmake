# rnnc_add_model: compiles a model file with `rnnc compile` at build time and
# gives a library target to link. Installed beside rnncConfig.cmake, which
# defines the imported executable rnnc::rnnc this file runs.
#
#   rnnc_add_model(<target> MODEL <file.toml>
#                  [TARGET <Halide target, default host>]
#                  [SCHEDULES <records.json from rnnc tune>]
#                  [STATIC | SHARED])
#
# Relative MODEL and SCHEDULES paths are taken from CMAKE_CURRENT_SOURCE_DIR.
# rnnc writes into ${CMAKE_CURRENT_BINARY_DIR}/rnnc/<target>: lib<name>.a,
# lib<name>.so, <name>.h, <name>.pc, the Python modules <name>.py and
# <name>_torch.py and the program <name>, where <name> is
# the model's name (its `name` key, else the file name up to its first dot).
# <target> is the static library (default) or the shared one, with that
# directory as its include directory; the static library also brings what it
# needs (the C++ standard library, threads, dl, m), so a C program links it
# with one target_link_libraries. Programs on the shared library find it
# through the build tree's rpath; install lib<name>.so with them if they are
# installed. The model compiles again when the model file, the records or
# the installed rnnc change. rnnc's kernel cache is $RNNC_CACHE_DIR (else
# ~/.cache/rnnc), read when the build runs.
#
# The target's properties RNNC_MODEL_NAME, RNNC_OUTPUT_DIR and RNNC_PROGRAM
# name the model, rnnc's output directory and the generated program.

function(rnnc_add_model target)
  set(where "rnnc_add_model(${target})")
  cmake_parse_arguments(PARSE_ARGV 1 ARG "STATIC;SHARED" "MODEL;TARGET;SCHEDULES" "")
  if(ARG_UNPARSED_ARGUMENTS)
    list(JOIN ARG_UNPARSED_ARGUMENTS " " unknown)
    message(FATAL_ERROR "${where}: unknown argument(s) '${unknown}'; expected MODEL <file.toml>, "
                        "TARGET <halide target>, SCHEDULES <records.json>, STATIC or SHARED")
  endif()
  if(ARG_KEYWORDS_MISSING_VALUES)
    list(JOIN ARG_KEYWORDS_MISSING_VALUES ", " empty)
    message(FATAL_ERROR "${where}: ${empty} given without a value")
  endif()
  if(NOT DEFINED ARG_MODEL)
    message(FATAL_ERROR "${where}: MODEL <file.toml> is required")
  endif()
  if(ARG_STATIC AND ARG_SHARED)
    message(FATAL_ERROR "${where}: STATIC and SHARED exclude each other")
  endif()
  if(TARGET ${target})
    message(FATAL_ERROR "${where}: a target named '${target}' exists already")
  endif()
  if(NOT TARGET rnnc::rnnc)
    message(FATAL_ERROR "${where}: the target rnnc::rnnc is missing; call find_package(rnnc) first")
  endif()
  if(NOT DEFINED ARG_TARGET)
    set(ARG_TARGET host)
  endif()

  cmake_path(ABSOLUTE_PATH ARG_MODEL BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE OUTPUT_VARIABLE model)
  if(NOT EXISTS "${model}" OR IS_DIRECTORY "${model}")
    message(FATAL_ERROR "${where}: the model file ${model} does not exist")
  endif()
  set(schedules_args "")
  set(schedules "")
  if(DEFINED ARG_SCHEDULES)
    cmake_path(ABSOLUTE_PATH ARG_SCHEDULES BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE
               OUTPUT_VARIABLE schedules)
    if(NOT EXISTS "${schedules}" OR IS_DIRECTORY "${schedules}")
      message(FATAL_ERROR "${where}: the tuning records ${schedules} do not exist")
    endif()
    set(schedules_args --schedules "${schedules}")
  endif()

  # The model's name decides the file names, so it is read now, from the
  # first line of `rnnc check` ("model <name>"), which also reports a bad
  # model file with its line and column. Editing the file reconfigures.
  get_target_property(rnnc_exe rnnc::rnnc IMPORTED_LOCATION)
  execute_process(
    COMMAND "${rnnc_exe}" check "${model}"
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE table
    ERROR_VARIABLE error)
  if(NOT rc EQUAL 0)
    # Indented, rnnc's lines are printed as they are (message() rewraps the rest).
    string(STRIP "${error}" error)
    string(REPLACE "\n" "\n  " error "  ${error}")
    message(FATAL_ERROR "${where}: `rnnc check ${model}` failed (${rc}):\n${error}")
  endif()
  if(NOT table MATCHES "^model ([A-Za-z0-9_]+)\n")
    message(FATAL_ERROR "${where}: `rnnc check ${model}` printed no model name:\n${table}")
  endif()
  set(name "${CMAKE_MATCH_1}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${model}")

  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/rnnc/${target}")
  set(outputs "${out_dir}/lib${name}.a" "${out_dir}/lib${name}.so" "${out_dir}/${name}.h" "${out_dir}/${name}.pc"
              "${out_dir}/${name}.py" "${out_dir}/${name}_torch.py" "${out_dir}/${name}")
  # rnnc links the model with the runtime installed beside it, so a newer
  # runtime recompiles the model as a newer rnnc does.
  cmake_path(GET rnnc_exe PARENT_PATH rnnc_bin)
  cmake_path(GET rnnc_bin PARENT_PATH rnnc_prefix)
  set(rnnc_runtime "${rnnc_prefix}/lib/rnnc/librnnc_runtime.a")
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND rnnc::rnnc compile "${model}" -o "${out_dir}" --target "${ARG_TARGET}" ${schedules_args}
    DEPENDS "${model}" ${schedules} "${rnnc_exe}" "${rnnc_runtime}"
    COMMENT "rnnc: compiling model ${name} (${ARG_MODEL}) for ${ARG_TARGET}"
    VERBATIM)
  add_custom_target(${target}.compile DEPENDS ${outputs})

  # An imported library stands for the file rnnc writes; GLOBAL so that other
  # directories can link it, and add_dependencies makes every target linking
  # it wait for the compile. The include directory must exist at generate
  # time, before the first build.
  file(MAKE_DIRECTORY "${out_dir}")
  if(ARG_SHARED)
    add_library(${target} SHARED IMPORTED GLOBAL)
    set_target_properties(${target} PROPERTIES
      IMPORTED_LOCATION "${out_dir}/lib${name}.so"
      IMPORTED_SONAME "lib${name}.so")
  else()
    # lib<name>.a holds the kernels and both runtimes, compiled C++ code that
    # needs the C++ standard library, threads, dlopen (the Halide runtime) and
    # libm. Written as -l flags: a plain "m" or "dl" would name the caller's
    # target of that name, if it has one (even <target> itself).
    add_library(${target} STATIC IMPORTED GLOBAL)
    set_target_properties(${target} PROPERTIES IMPORTED_LOCATION "${out_dir}/lib${name}.a")
    target_link_libraries(${target} INTERFACE -lstdc++ Threads::Threads -ldl -lm)
  endif()
  target_include_directories(${target} INTERFACE "${out_dir}")
  if(RNNC_SANITIZE_LINK_FLAGS)
    separate_arguments(_rnnc_san NATIVE_COMMAND "${RNNC_SANITIZE_LINK_FLAGS}")
    target_link_options(${target} INTERFACE ${_rnnc_san})
  endif()
  set_target_properties(${target} PROPERTIES
    RNNC_MODEL_NAME "${name}"
    RNNC_OUTPUT_DIR "${out_dir}"
    RNNC_PROGRAM "${out_dir}/${name}")
  add_dependencies(${target} ${target}.compile)
endfunction()
