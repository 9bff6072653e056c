// The umbrella header: everything a program built on parallel_run needs.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/file_batch.hpp"
#include "parallel_run/file_dataset.hpp"
#include "parallel_run/context.hpp"
#include "parallel_run/item_result.hpp"
#include "parallel_run/result_element.hpp"
#include "parallel_run/scorer.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/executor.hpp"
#include "parallel_run/command_line.hpp"
