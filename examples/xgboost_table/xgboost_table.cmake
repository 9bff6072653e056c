# Breast tumours scored by gradient-boosted trees through XGBoost's C API: built when XGBoost's
# header and library are found (Debian: libxgboost-dev), tested when /usr/bin/python3 can also
# import xgboost (Debian: python3-xgboost) to train the model. Included by
# examples/CMakeLists.txt after the tests' helpers, which it uses.
find_path(PARALLEL_RUN_XGBOOST_INCLUDE_DIR xgboost/c_api.h
          DOC "XGBoost's C API header (Debian: libxgboost-dev)")
find_library(PARALLEL_RUN_XGBOOST_LIBRARY xgboost DOC "XGBoost's library (Debian: libxgboost-dev)")
if(NOT PARALLEL_RUN_XGBOOST_INCLUDE_DIR OR NOT PARALLEL_RUN_XGBOOST_LIBRARY)
  message(STATUS "parallel_run: XGBoost not found (xgboost/c_api.h and libxgboost; Debian: "
                 "libxgboost-dev); the xgboost_table example is not built")
  return()
endif()

parallel_run_add_example(xgboost_table xgboost_table/xgboost_table.cpp)
target_include_directories(xgboost_table SYSTEM PRIVATE ${PARALLEL_RUN_XGBOOST_INCLUDE_DIR})
target_link_libraries(xgboost_table PRIVATE ${PARALLEL_RUN_XGBOOST_LIBRARY})
parallel_run_add_example(xgboost_table_check xgboost_table/xgboost_table_check.cpp)

if(NOT PARALLEL_RUN_BUILD_TESTS)
  return()
endif()
set(xgboost_python /usr/bin/python3)
execute_process(COMMAND ${xgboost_python} -c "import xgboost"
                RESULT_VARIABLE xgboost_import_status OUTPUT_QUIET ERROR_QUIET)
if(NOT xgboost_import_status EQUAL 0)
  message(STATUS "parallel_run: ${xgboost_python} cannot import xgboost (Debian: "
                 "python3-xgboost); the xgboost_table tests are not run")
  return()
endif()

# The score_table tests' made-up tumours (example_score_table_data: 456 training rows, 113
# test rows) train the model; it scores the test rows on 2 threads and on 2 processes, in
# mini-batches of 8 KB, and both outputs must be the same bytes.
add_test(NAME example.xgboost_table.train
         COMMAND ${CMAKE_COMMAND} -DPROGRAM=${xgboost_python}
                 -DWORKING_DIRECTORY=${example_work_dir}
                 "-DARGS=${CMAKE_CURRENT_SOURCE_DIR}/xgboost_table/train.py \
score_table_data/train.csv xgboost_table_data/model.json"
                 -DCLEAN=${example_work_dir}/xgboost_table_data
                 "-DEXPECT_STDOUT=456 rows \\([0-9]+ malignant\\), 30 features, 200 trees.*wrote xgboost_table_data/model.json"
                 -DCHECK_FILE=${example_work_dir}/xgboost_table_data/model.json
                 "-DEXPECT_FILE_MATCHES=\"feature_names\":\\[\"mean radius\",\"mean texture\","
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/run_and_check.cmake)
set_tests_properties(example.xgboost_table.train PROPERTIES
  TIMEOUT 120 FIXTURES_SETUP example_xgboost_model FIXTURES_REQUIRED example_score_table_data)

foreach(backend thread process)
  parallel_run_example_test(example.xgboost_table.score_${backend} PROGRAM xgboost_table
    ARGS "--input score_table_data/test.csv --output xgboost_table_${backend} \
          --side-input model=xgboost_table_data/model.json --backend ${backend} \
          --process-count-per-node 2 --mini-batch-size 8KB"
    CLEAN xgboost_table_${backend}
    EXPECT_STDOUT "succeeded: items 113/113 succeeded, 0 failed.* mini-batches [3-9]/[3-9] succeeded"
    CHECK_FILE xgboost_table_${backend}/parallel_run_step.txt
    EXPECT_FILE_MATCHES "^key diagnosis probability\\ntest.csv:2 (malignant|benign) [01]\\.[0-9][0-9][0-9][0-9]\\ntest.csv:3 "
    FIXTURES_SETUP example_xgboost_${backend}
    FIXTURES_REQUIRED example_score_table_data example_xgboost_model)
endforeach()
# Exactly one row per test row, in input order, and the accuracy on the held-out rows.
parallel_run_example_test(example.xgboost_table.check_thread PROGRAM xgboost_table_check
  ARGS "xgboost_table_thread/parallel_run_step.txt score_table_data/test.csv"
  EXPECT_STDOUT "^accuracy: (0\\.9[5-9][0-9]|1\\.000)\\n.*113 output rows, one per test row, in input order"
  FIXTURES_REQUIRED example_score_table_data example_xgboost_thread)
parallel_run_example_test(example.xgboost_table.check_process PROGRAM xgboost_table_check
  ARGS "xgboost_table_process/parallel_run_step.txt score_table_data/test.csv"
  EXPECT_STDOUT "^accuracy: (0\\.9[5-9][0-9]|1\\.000)\\n.*113 output rows, one per test row, in input order"
  CHECK_FILE xgboost_table_process/parallel_run_step.txt
  EXPECT_FILE_BYTES ${example_work_dir}/xgboost_table_thread/parallel_run_step.txt
  FIXTURES_REQUIRED example_score_table_data example_xgboost_thread example_xgboost_process)

# A field that is not a number fails its row alone; the other rows share one DMatrix.
parallel_run_example_test(example.xgboost_table.bad_field PROGRAM xgboost_table
  ARGS "--input ${expected_dir}/score_table_bad_rows.csv --output xgboost_table_bad_field \
        --side-input model=xgboost_table_data/model.json"
  CLEAN xgboost_table_bad_field
  EXPECT_STDOUT "succeeded: items 2/3 succeeded, 1 failed"
  CHECK_FILE xgboost_table_bad_field/logs/failed_items.csv
  EXPECT_FILE_MATCHES "\\nscore_table_bad_rows.csv:3,0,1,[^\\n]*column 'mean radius'[^\\n]*'abc'"
  FIXTURES_REQUIRED example_xgboost_model)
# No model, or one XGBoost cannot load: a configuration error, the job stops at once.
parallel_run_example_test(example.xgboost_table.no_model PROGRAM xgboost_table
  ARGS "--input ${expected_dir}/score_table_bad_rows.csv --output xgboost_table_no_model"
  CLEAN xgboost_table_no_model
  EXPECT_EXIT 2
  EXPECT_STDERR "job failed: init failed: \\[parallel_run.context\\] no side input named 'model'")
parallel_run_example_test(example.xgboost_table.model_not_json PROGRAM xgboost_table
  ARGS "--input ${expected_dir}/score_table_bad_rows.csv --output xgboost_table_model_not_json \
        --side-input model=${expected_dir}/score_table_bad_rows.csv"
  CLEAN xgboost_table_model_not_json
  EXPECT_EXIT 2
  EXPECT_STDERR "\\[parallel_run.usage\\] xgboost_table: the model '[^']*score_table_bad_rows.csv' must be a .json file")
parallel_run_example_test(example.xgboost_table.truncated_model PROGRAM xgboost_table
  ARGS "--input ${expected_dir}/score_table_bad_rows.csv --output xgboost_table_truncated_model \
        --side-input model=${CMAKE_CURRENT_SOURCE_DIR}/xgboost_table/tests/truncated_model.json"
  CLEAN xgboost_table_truncated_model
  EXPECT_EXIT 2
  EXPECT_STDERR "\\[parallel_run.usage\\] xgboost_table: cannot load the model '[^']*truncated_model.json': [^\\n]+\\n")
