// The exception hierarchy for misuse and bad configuration. Every message starts with a
// stable id in brackets, e.g. "[parallel_run.config.mini_batch_size] ...", so scripts and
// tests can match on it. Failures of the user's scorer are never thrown at the caller: they
// are captured per attempt and reported in the JobResult and logs/failed_items.csv.
#pragma once
#include "parallel_run/version.hpp"

#include <stdexcept>
#include <string>

PARALLEL_RUN_BEGIN_NAMESPACE

/// Base of every exception the library throws.
class Error : public std::runtime_error {
 public:
  Error(std::string id, const std::string& message)
      : std::runtime_error("[" + id + "] " + message), id_(std::move(id)) {}
  /// The stable id, e.g. "parallel_run.config.run_max_try".
  const std::string& id() const noexcept { return id_; }

 private:
  std::string id_;
};

/// A setting has an invalid value. The id is "parallel_run.config.<setting>".
class ConfigError : public Error {
 public:
  ConfigError(const std::string& setting, const std::string& message)
      : Error("parallel_run.config." + setting, message), setting_(setting) {}
  /// The name of the offending setting, as in the settings table.
  const std::string& setting() const noexcept { return setting_; }

 private:
  std::string setting_;
};

/// An input (folder, glob, list file or path) is missing or unreadable.
class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error("parallel_run.input", message) {}
};

/// The output or log folder cannot be written.
class OutputError : public Error {
 public:
  explicit OutputError(const std::string& message) : Error("parallel_run.output", message) {}
};

/// The command line is malformed (unknown flag, missing value).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error("parallel_run.usage", message) {}
};

/// A scorer asked the context for something it does not have (an unknown side input).
class ContextError : public Error {
 public:
  explicit ContextError(const std::string& message) : Error("parallel_run.context", message) {}
};

PARALLEL_RUN_END_NAMESPACE
