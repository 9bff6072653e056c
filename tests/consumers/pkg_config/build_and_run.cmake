# A consumer without CMake: compiles consumer.cpp with the flags `pkg-config --cflags --libs
# parallel_run` gives for the installed tree, then runs it.
# cmake -DPREFIX=<install prefix> -DCXX=<compiler> -DSOURCE=<consumer.cpp> -DWORK=<folder> -P ...
find_program(PKG_CONFIG pkg-config REQUIRED)
file(GLOB pc_dirs ${PREFIX}/share/pkgconfig ${PREFIX}/lib*/pkgconfig ${PREFIX}/lib/*/pkgconfig)
string(REPLACE ";" ":" pc_path "${pc_dirs}")
set(ENV{PKG_CONFIG_PATH} "${pc_path}")
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs parallel_run
                OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not find parallel_run under ${pc_path}")
endif()
message(STATUS "pkg-config --cflags --libs parallel_run: ${flags}")
separate_arguments(flag_list UNIX_COMMAND "${flags}")
file(MAKE_DIRECTORY ${WORK})
execute_process(COMMAND ${CXX} ${SOURCE} ${flag_list} -o ${WORK}/consumer
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling with the pkg-config flags failed")
endif()
execute_process(COMMAND ${WORK}/consumer ${WORK}/run RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer built with pkg-config failed")
endif()
