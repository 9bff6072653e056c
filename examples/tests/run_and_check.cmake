# Runs one example program and checks what it did (cmake -P, for CTest):
#   PROGRAM              the program
#   ARGS                 its arguments, one string split like a shell would (no ';')
#   WORKING_DIRECTORY    where it runs
#   CLEAN                a folder removed before the run (the job's output), so reruns start fresh
#   EXPECT_EXIT          the exit status it must return (default 0)
#   EXPECT_STDOUT        a regular expression stdout must match
#   EXPECT_STDERR        a regular expression stderr must match
#   CHECK_FILE           a file the run must leave, checked by one or both of:
#   EXPECT_FILE_BYTES    a file CHECK_FILE must equal byte for byte
#   EXPECT_FILE_MATCHES  a regular expression CHECK_FILE must match
# In the regular expressions, \n (backslash, n) stands for a line break: CMake's regular
# expressions have no escape for it, and a test's command line reads better without one.
foreach(required PROGRAM WORKING_DIRECTORY)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "run_and_check.cmake: -D${required}=... is required")
  endif()
endforeach()
if(NOT DEFINED EXPECT_EXIT)
  set(EXPECT_EXIT 0)
endif()

foreach(regex EXPECT_STDOUT EXPECT_STDERR EXPECT_FILE_MATCHES)
  if(DEFINED ${regex})
    string(REPLACE "\\n" "\n" ${regex} "${${regex}}")
  endif()
endforeach()

if(DEFINED CLEAN)
  file(REMOVE_RECURSE "${CLEAN}")
endif()
separate_arguments(arguments UNIX_COMMAND "${ARGS}")
execute_process(COMMAND "${PROGRAM}" ${arguments}
                WORKING_DIRECTORY "${WORKING_DIRECTORY}"
                RESULT_VARIABLE exit_status
                OUTPUT_VARIABLE stdout
                ERROR_VARIABLE stderr)
# Shown on success too: ctest --output-on-failure / -V then tells what ran.
message(STATUS "ran: ${PROGRAM} ${ARGS}\n-- exit: ${exit_status}\n"
               "-- stdout:\n${stdout}-- stderr:\n${stderr}")

set(problems "")
if(NOT exit_status STREQUAL EXPECT_EXIT)
  string(APPEND problems "exit status ${exit_status}, expected ${EXPECT_EXIT}\n")
endif()
if(DEFINED EXPECT_STDOUT AND NOT stdout MATCHES "${EXPECT_STDOUT}")
  string(APPEND problems "stdout does not match '${EXPECT_STDOUT}'\n")
endif()
if(DEFINED EXPECT_STDERR AND NOT stderr MATCHES "${EXPECT_STDERR}")
  string(APPEND problems "stderr does not match '${EXPECT_STDERR}'\n")
endif()
if(DEFINED CHECK_FILE)
  if(NOT EXISTS "${CHECK_FILE}")
    string(APPEND problems "'${CHECK_FILE}' was not written\n")
  else()
    if(DEFINED EXPECT_FILE_BYTES)
      # HEX compares the exact bytes: a missing final newline or a CR is a difference too.
      file(READ "${CHECK_FILE}" actual HEX)
      file(READ "${EXPECT_FILE_BYTES}" expected HEX)
      if(NOT actual STREQUAL expected)
        file(READ "${CHECK_FILE}" actual_text)
        file(READ "${EXPECT_FILE_BYTES}" expected_text)
        string(APPEND problems "'${CHECK_FILE}' differs from '${EXPECT_FILE_BYTES}'\n"
                               "--- actual:\n${actual_text}--- expected:\n${expected_text}")
      endif()
    endif()
    if(DEFINED EXPECT_FILE_MATCHES)
      file(READ "${CHECK_FILE}" text)
      if(NOT text MATCHES "${EXPECT_FILE_MATCHES}")
        string(APPEND problems "'${CHECK_FILE}' does not match '${EXPECT_FILE_MATCHES}':\n${text}")
      endif()
    endif()
  endif()
endif()
if(problems)
  message(FATAL_ERROR "${problems}")
endif()
