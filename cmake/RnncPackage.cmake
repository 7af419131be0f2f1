# The installed CMake package: <prefix>/lib/cmake/rnnc/rnncConfig.cmake (the
# imported rnnc::rnnc and rnnc_add_model()) and rnncConfigVersion.cmake.
# The rest of the install (bin/rnnc, lib/rnnc/librnnc_runtime.a,
# include/rnnc) is declared beside those targets.
include(CMakePackageConfigHelpers)

set(RNNC_INSTALL_BINDIR bin)
set(RNNC_INSTALL_CMAKEDIR lib/cmake/rnnc)
set(RNNC_PACKAGE_DIR ${CMAKE_BINARY_DIR}/package)

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/rnncConfig.cmake.in ${RNNC_PACKAGE_DIR}/rnncConfig.cmake
  INSTALL_DESTINATION ${RNNC_INSTALL_CMAKEDIR}
  PATH_VARS RNNC_INSTALL_BINDIR)
# Below 1.0 a minor version may change the generated C API or the package's
# functions, so only the same major.minor version is compatible.
write_basic_package_version_file(${RNNC_PACKAGE_DIR}/rnncConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)

install(FILES
  ${RNNC_PACKAGE_DIR}/rnncConfig.cmake
  ${RNNC_PACKAGE_DIR}/rnncConfigVersion.cmake
  ${CMAKE_CURRENT_LIST_DIR}/RnncAddModel.cmake
  DESTINATION ${RNNC_INSTALL_CMAKEDIR})
