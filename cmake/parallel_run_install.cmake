# cmake --install: the headers, an exported target and a package config, so a consumer
# writes find_package(parallel_run) and links parallel_run::parallel_run.
include(CMakePackageConfigHelpers)
install(DIRECTORY include/parallel_run DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS parallel_run EXPORT parallel_runTargets)
install(EXPORT parallel_runTargets NAMESPACE parallel_run::
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/parallel_run)
configure_package_config_file(cmake/parallel_runConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/parallel_runConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/parallel_run)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/parallel_runConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/parallel_runConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/parallel_runConfigVersion.cmake
              cmake/parallel_run_compiled.cmake
              cmake/parallel_run_mpi.cmake
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/parallel_run)

# pkg-config, for builds without CMake: Requires names the .pc files of the linked
# dependencies (set in parallel_run_dependencies.cmake); Boost and range-v3 are headers only.
configure_file(cmake/parallel_run.pc.in ${CMAKE_CURRENT_BINARY_DIR}/parallel_run.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/parallel_run.pc
        DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)
