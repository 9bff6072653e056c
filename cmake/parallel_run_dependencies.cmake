# The library's dependencies, found as imported targets. Shared by our build and by the
# installed package config (which re-finds them with find_dependency).
include(GNUInstallDirs)
find_package(Boost 1.74 REQUIRED)
find_package(range-v3 REQUIRED)
find_package(fmt 9 REQUIRED)
find_package(CLI11 2.1 REQUIRED)
find_package(Threads REQUIRED)
# JSON Lines: its DOM parser picks the best SIMD kernel of the CPU at run time.
find_package(simdjson 3 REQUIRED)
# The journal's checksums and fingerprints: xxHash, used as headers only (XXH_INLINE_ALL).
find_path(PARALLEL_RUN_XXHASH_INCLUDE_DIR xxhash.h REQUIRED
          DOC "xxhash.h (Debian: libxxhash-dev)")
# The pkg-config modules of the dependencies that are not header-only (see parallel_run.pc.in).
set(PARALLEL_RUN_PC_REQUIRES "fmt >= 9, simdjson >= 3")
