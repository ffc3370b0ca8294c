// Downloads models from the Hugging Face Hub (or any server answering its URL layout: $HF_ENDPOINT) into the hub
// cache (hub_cache.h), the way huggingface_hub does:
//
//   GET  {endpoint}/api/models/{repo}/revision/{revision}?blobs=true   the commit and the files (sizes, LFS sha256)
//   HEAD {endpoint}/{repo}/resolve/{commit}/{file}                      X-Linked-Etag / ETag (the blob name),
//                                                                       X-Linked-Size, X-Repo-Commit, Location
//   GET  <Location or the resolve URL>  (Range: bytes=N- to resume)     the bytes, into blobs/<etag>.incomplete
//
// A file's bytes are checked against its LFS sha256 before they are renamed into blobs/ (a mismatch deletes them);
// a second process pulling the same blob waits on its lock and then uses it. A file already in the snapshot is not
// fetched again: a repeated pull costs one API request and no download.
//
// pull() is thread-safe (each call has its own connections); its callback runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hub/hub_ref.h"

namespace hearth::hub {

struct HubOptions {
  std::string endpoint;   // "": $HF_ENDPOINT, else https://huggingface.co
  std::string token;      // "": $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the token file $HF_HOME/token
  std::string cache_dir;  // "": hub_cache_dir()
  int retries = 3;        // per file: a dropped or stalled connection resumes where it stopped, this many times
  int stall_seconds = 30; // a transfer slower than 1 byte/s for this long counts as dropped
  bool offline = false;   // also set by $HF_HUB_OFFLINE=1: only the cache is used (resolve_cached)
};

// The options with the environment's defaults filled in.
HubOptions hub_options_from_env();

struct PullProgress {
  enum class Stage { kResolving, kDownloading, kDone } stage = Stage::kResolving;
  std::string file;            // repo-relative; "" while resolving
  int file_index = 0;          // 1-based, of file_count files to fetch (those not in the cache already)
  int file_count = 0;
  int64_t done = 0;            // bytes of this file present (resumed bytes included)
  int64_t total = 0;           // its size, 0 when unknown
  int64_t resumed_from = 0;    // bytes that were there from an interrupted download
  double bytes_per_second = 0; // over this transfer
};

// Called at most about ten times a second per file, and at each file's start and end. Returning false cancels the
// pull (Error kCancelled); the partial download stays to be resumed.
using PullCallback = std::function<bool(const PullProgress&)>;

struct PullResult {
  std::string repo;      // "OWNER/REPO"
  std::string commit;    // the snapshot
  std::string path;      // what to open: the GGUF file, or the snapshot folder of a safetensors model
  std::vector<std::string> files;  // every file the model uses
  int files_downloaded = 0;        // fetched now (the others were cached)
  int64_t bytes_downloaded = 0;    // received now
  bool gguf = false;
};

// Pulls `ref` at `revision` (a branch, tag or commit). Errors: not found (repo, revision or file, naming it),
// invalid argument (bad token: 401/403, naming HF_TOKEN; an ambiguous quant, listing them), corrupt data (sha256 or
// size mismatch), cancelled, and network failures (naming the URL and curl's reason).
PullResult pull(const HubRef& ref, const std::string& revision, const HubOptions& options,
                const PullCallback& progress = {});

}  // namespace hearth::hub
