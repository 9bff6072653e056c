// The separately compiled part of parallel_run: the coordinator, the partitioners, both
// backends and the command line. Include it in exactly one .cpp of a program whose every
// translation unit is compiled with PARALLEL_RUN_SEPARATE_COMPILATION defined (CMake does both
// when the program links parallel_run::compiled); see version.hpp.
#pragma once
#include "parallel_run/version.hpp"

#if PARALLEL_RUN_HEADER_ONLY
#error \
    "<parallel_run/src.hpp> is for separate compilation: define PARALLEL_RUN_SEPARATE_COMPILATION"
#endif

#include "parallel_run/detail/impl/job_runner.ipp"
#include "parallel_run/detail/impl/command_line.ipp"
