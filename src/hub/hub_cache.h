// The Hugging Face hub cache, in huggingface_hub's own layout, so that models its tools downloaded are found and
// reused, and models hearth downloads are theirs too:
//
//   <cache>/models--OWNER--REPO/blobs/<etag>               file contents (etag: the LFS sha256, else the git blob id)
//   <cache>/models--OWNER--REPO/snapshots/<commit>/<file>  relative symlinks into blobs/
//   <cache>/models--OWNER--REPO/refs/<revision>            the commit a branch or tag pointed to when last pulled
//   <cache>/.locks/models--OWNER--REPO/<etag>.lock         flock()ed while a blob is downloaded
//
// Everything here is the file system only (no network): which files a model name selects, where a pulled model
// is, what the cache holds, and removing a model. Functions are thread-safe (they share no state); a removal
// racing a download of the same repo may leave the download to redo.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hub/hub_ref.h"

namespace hearth::hub {

// $HF_HUB_CACHE (or the older $HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub: where huggingface_hub looks. Not created.
std::string hub_cache_dir();

// "OWNER/REPO" -> "models--OWNER--REPO".
std::string repo_folder_name(const std::string& repo);

// The files of a repo that a selection names.
struct FileChoice {
  std::vector<std::string> files;  // repo-relative paths to fetch (a GGUF's split parts all included)
  std::string primary;             // the file a model opens from; "" for a model folder (the snapshot itself)
  bool gguf = false;
};

// Picks from `names` (every file of `repo`) what `select` names: a file name exactly; else a quant (the GGUF files
// whose quant, or failing that whose name, holds `select`, case-insensitive); with no selection the safetensors
// model (config.json, *.safetensors and index, tokenizer and sentence-transformers files) if the repo has one, else
// its only GGUF file. Error (not found / invalid argument) naming the repo and listing the quants when nothing or
// more than one model matches.
FileChoice choose_files(const std::string& repo, const std::vector<std::string>& names, const std::string& select);

// The quant a GGUF file name states ("qwen2-0.5b-instruct-q4_k_m.gguf" -> "Q4_K_M"), "" when none.
std::string gguf_quant(const std::string& file_name);

// The path of the cached model `ref` names (a GGUF file, or the snapshot folder of a safetensors model), found
// without the network: the snapshot refs/<revision> points to (a commit hash also works), else, for "main", the
// only or the newest snapshot. Every selected file must be there. Error (not found) saying how to pull it.
std::string resolve_cached(const HubRef& ref, const std::string& revision = "main",
                           const std::string& cache_dir = hub_cache_dir());

// One model in the cache: a GGUF file, or a safetensors folder (a snapshot with a config.json).
struct CachedModel {
  std::string repo;      // "OWNER/REPO"
  std::string commit;    // the snapshot
  std::string file;      // repo-relative GGUF path; "" for a folder
  std::string path;      // absolute path to open
  std::vector<std::string> refs;  // branches/tags pointing at this snapshot
  int64_t size_bytes = 0;         // of the files it uses (a folder: all its files)
  bool gguf = false;
  bool complete = true;  // every symlink reaches its blob
};

// Everything in the cache, sorted by repo, then commit, then file. An absent cache is empty.
std::vector<CachedModel> list_cached_models(const std::string& cache_dir = hub_cache_dir());

struct RemoveResult {
  int links = 0;          // snapshot entries removed
  int blobs = 0;          // blobs deleted (no longer referenced by any snapshot)
  int64_t bytes_freed = 0;
};

// Removes `ref` from the cache: the whole repo with no selection, else the selected files in every snapshot, then
// the blobs no snapshot uses any more, empty snapshots and the refs pointing at them. Error (not found) when the
// repo or the selection is not cached.
RemoveResult remove_cached(const HubRef& ref, const std::string& cache_dir = hub_cache_dir());

}  // namespace hearth::hub
