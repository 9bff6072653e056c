# parallel_run::compiled: the library's separately compiled part (include/parallel_run/src.hpp)
# as a static library. A target that links it is compiled with PARALLEL_RUN_SEPARATE_COMPILATION
# and no longer compiles the coordinator, the backends or the command line itself. Used by this
# project's CMakeLists.txt and by the installed package's config (which passes the include
# folder), so find_package and add_subdirectory users get the same target.
if(NOT TARGET parallel_run_compiled)
  set(_parallel_run_src ${CMAKE_CURRENT_BINARY_DIR}/parallel_run_compiled/parallel_run.cpp)
  file(CONFIGURE OUTPUT ${_parallel_run_src} CONTENT "#include <parallel_run/src.hpp>\n")
  # Built only for a target that links it: a project that includes parallel_run with
  # add_subdirectory or FetchContent and stays header-only does not compile it.
  add_library(parallel_run_compiled STATIC EXCLUDE_FROM_ALL ${_parallel_run_src})
  add_library(parallel_run::compiled ALIAS parallel_run_compiled)
  target_link_libraries(parallel_run_compiled PUBLIC parallel_run::parallel_run)
  target_compile_definitions(parallel_run_compiled PUBLIC PARALLEL_RUN_SEPARATE_COMPILATION)
endif()
