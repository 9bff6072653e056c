# torch_digits: the digits scored by a TorchScript network with LibTorch. Included from
# examples/CMakeLists.txt (after its test helpers), so paths here are relative to examples/.
# Built only when LibTorch is found (Debian: libtorch-dev); tested only when the digit programs
# are built too (they prepare the data) and /usr/bin/python3 can import torch (Debian:
# python3-torch) to train the model.

# Debian's TorchConfig.cmake is found without a CMAKE_PREFIX_PATH (it lies in
# /usr/lib/<arch>/cmake/Torch); the Caffe2Config.cmake it loads prints its "Caffe2: Found ..."
# lines even when QUIET.
find_package(Torch QUIET)
if(NOT Torch_FOUND AND NOT TORCH_FOUND)
  message(STATUS "parallel_run: LibTorch not found (Debian: libtorch-dev; to train and test also "
                 "python3-torch); the torch_digits example is not built")
  return()
endif()

parallel_run_add_example(torch_digits torch_digits/torch_digits.cpp)
# The imported target `torch` brings its libraries, include folders and
# -D_GLIBCXX_USE_CXX11_ABI=1. Its headers are included as system headers, so our -Werror flags
# (parallel_run_dev_flags) do not apply to them: with them so, g++ 12 and Debian's LibTorch
# 1.13 build this target with no warning and no -Wno-... option. Should another LibTorch
# warn, turn that warning off here, with target_compile_options(torch_digits PRIVATE ...).
target_link_libraries(torch_digits PRIVATE torch)
target_include_directories(torch_digits SYSTEM PRIVATE ${TORCH_INCLUDE_DIRS})

if(NOT PARALLEL_RUN_BUILD_TESTS OR NOT TARGET digits_prepare)
  return()
endif()
# Debian's Python, which imports the python3-torch package (another python3 may come first
# on the PATH).
set(PARALLEL_RUN_TORCH_PYTHON /usr/bin/python3 CACHE FILEPATH
    "The Python that trains the torch_digits model in the tests")
set(torch_python ${PARALLEL_RUN_TORCH_PYTHON})
execute_process(COMMAND ${torch_python} -c "import torch" RESULT_VARIABLE torch_import_status
                OUTPUT_QUIET ERROR_QUIET)
if(NOT torch_import_status EQUAL 0)
  message(STATUS "parallel_run: ${torch_python} cannot import torch (Debian: python3-torch); "
                 "the torch_digits tests are not run")
  return()
endif()

# Train on the synthetic digits of example.digits.prepare (digits_data: 240 training images,
# 60 held out), score the held-out ones on threads and on processes, check both outputs.
set(torch_dir ${CMAKE_CURRENT_SOURCE_DIR}/torch_digits)
add_test(NAME example.torch_digits.train
         COMMAND ${CMAKE_COMMAND} -DPROGRAM=${torch_python}
                 -DWORKING_DIRECTORY=${example_work_dir}
                 "-DARGS=${torch_dir}/torch_digits_train.py digits_synthetic.csv.gz digits_data torch_digits_model/model.pt --epochs 30"
                 "-DEXPECT_STDOUT=240 training images, MLP 64-32-10, 30 epochs: training accuracy (0\\.9[5-9][0-9]|1\\.000)"
                 -DCHECK_FILE=${example_work_dir}/torch_digits_model/model.pt
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/run_and_check.cmake)
set_tests_properties(example.torch_digits.train PROPERTIES
  TIMEOUT 120 FIXTURES_SETUP example_torch_digits_model
  FIXTURES_REQUIRED "example_digits_csv;example_digits_data")

# The output: exactly one "<file name>: <digit> <probability>" row per held-out image.
# The first two are the 5th and 10th images of the data set (every 5th is held out).
set(torch_row ": [0-9] [01]\\.[0-9][0-9][0-9][0-9]\\n")
string(REPEAT "img_[0-9]+\\.pgm${torch_row}" 58 torch_rows)
foreach(backend thread process)
  parallel_run_example_test(example.torch_digits.score_${backend} PROGRAM torch_digits
    ARGS "--input @digits_data/held_out_list.txt --output torch_digits_${backend}
          --side-input model=torch_digits_model/model.pt --mini-batch-size 16
          --process-count-per-node 2 --backend ${backend}"
    CLEAN torch_digits_${backend}
    EXPECT_STDOUT "succeeded: items 60/60 succeeded, 0 failed.* mini-batches 4/4"
    CHECK_FILE torch_digits_${backend}/parallel_run_step.txt
    EXPECT_FILE_MATCHES "^img_0005\\.pgm${torch_row}img_0010\\.pgm${torch_row}${torch_rows}$"
    FIXTURES_SETUP example_torch_digits_${backend}
    FIXTURES_REQUIRED example_torch_digits_model)
  add_test(NAME example.torch_digits.check_${backend}
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=${torch_python}
                   -DWORKING_DIRECTORY=${example_work_dir}
                   "-DARGS=${torch_dir}/torch_digits_check.py torch_digits_${backend}/parallel_run_step.txt digits_data/held_out_labels.txt --min-accuracy 0.95"
                   "-DEXPECT_STDOUT=^accuracy: (0\\.9[5-9][0-9]|1\\.000)\\ntorch_digits_check: [0-9]+ of 60 held-out images"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/run_and_check.cmake)
  set_tests_properties(example.torch_digits.check_${backend} PROPERTIES
    TIMEOUT 60 FIXTURES_REQUIRED example_torch_digits_${backend})
endforeach()
