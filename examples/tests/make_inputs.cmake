# Writes the small inputs the example tests run on (cmake -P, as CTest fixtures):
#   DIR   the folder to create, emptied first
#   KIND  lambda             four text files with known byte and line counts
#         flaky              f00.txt .. f19.txt: four mini-batches of 5
#         unreadable_images  PGM files digit_identification cannot read, one problem each
#         check_cases        predictions and labels for digits_check's failure cases
foreach(required DIR KIND)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "make_inputs.cmake: -D${required}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}")

if(KIND STREQUAL "lambda")
  # Expected rows: lambda_counts.txt. The empty file has no line; a last line without a
  # newline counts as a line.
  file(WRITE "${DIR}/a.txt" "hello\nworld\n")
  file(WRITE "${DIR}/b.txt" "")
  file(WRITE "${DIR}/d.txt" "\n\n\n")
  file(WRITE "${DIR}/sub/c.txt" "no newline at end")
elseif(KIND STREQUAL "flaky")
  foreach(i RANGE 0 19)
    string(LENGTH "${i}" digits)
    if(digits EQUAL 1)
      set(i "0${i}")
    endif()
    file(WRITE "${DIR}/f${i}.txt" "item ${i}\n")
  endforeach()
elseif(KIND STREQUAL "unreadable_images")
  file(WRITE "${DIR}/ascii.pgm" "P2\n8 8\n16\n0 0 0\n")
  file(WRITE "${DIR}/too_big.pgm" "P5\n28 28\n255\n")
  file(WRITE "${DIR}/truncated.pgm" "P5\n8 8\n16\nabc")
elseif(KIND STREQUAL "check_cases")
  file(WRITE "${DIR}/labels.txt" "a.pgm 1\nb.pgm 2\n")
  file(WRITE "${DIR}/missing_prediction.txt" "a.pgm: 1\n")
  file(WRITE "${DIR}/wrong_prediction.txt" "a.pgm: 1\nb.pgm: 7\n")
else()
  message(FATAL_ERROR "make_inputs.cmake: unknown KIND '${KIND}'")
endif()
