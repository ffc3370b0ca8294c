// Where indexes live: one folder per named index under the data folder — $HEARTH_DATA_DIR, else
// $XDG_DATA_HOME/hearth, else ~/.local/share/hearth — at <data>/indexes/<name>/ (index.sqlite, vectors.hnsw).
#pragma once

#include <string>
#include <vector>

namespace hearth::context {

// The data folder (not created). `override_dir` (a --data-dir flag) wins when not empty.
std::string data_dir(const std::string& override_dir = "");

// Throws Error kInvalidArgument unless `name` is 1-64 of [A-Za-z0-9._-] not starting with '.' (it names a folder).
void validate_index_name(const std::string& name);

// <data>/indexes/<name> (validated, not created).
std::string index_dir(const std::string& name, const std::string& override_dir = "");

// Names of the indexes that exist in the data folder, sorted.
std::vector<std::string> list_indexes(const std::string& override_dir = "");

}  // namespace hearth::context
