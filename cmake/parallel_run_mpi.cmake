# parallel_run::mpi: many nodes on MPI (include <parallel_run/mpi.hpp>). Opt-in: the core
# target never needs MPI; this one adds MPI::MPI_CXX when an MPI is installed (Debian:
# libopenmpi-dev or libmpich-dev). Used by this project's CMakeLists.txt and by the installed
# package's config, so find_package and add_subdirectory users get the same target.
if(NOT TARGET parallel_run_mpi)
  find_package(MPI QUIET COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    add_library(parallel_run_mpi INTERFACE)
    add_library(parallel_run::mpi ALIAS parallel_run_mpi)
    target_link_libraries(parallel_run_mpi INTERFACE parallel_run::parallel_run MPI::MPI_CXX)
  endif()
endif()
