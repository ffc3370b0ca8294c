#include "hub/hub_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/sha256.h"
#include "hub/hub_cache.h"
#include "hub/hub_internal.h"

namespace hearth::hub {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// "https://host:port" of a URL, to tell whether a redirect leaves the endpoint (the token stays behind then).
std::string origin_of(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  return url.substr(0, url.find('/', scheme + 3));
}

std::string escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += char(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string escape_path(const std::string& path) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    out += escape(path.substr(start, slash - start));
    if (slash == std::string::npos) return out;
    out += '/';
    start = slash + 1;
  }
}

// huggingface_hub's normalisation: a weak marker and the quotes go.
std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

// A name the server gave that becomes a file name here (a commit, an etag): nothing that could leave its folder.
void check_safe_name(const std::string& what, const std::string& name, const std::string& url) {
  const bool ok = !name.empty() && name.size() <= 128 &&
                  std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
  if (!ok) fail(ErrorKind::kCorruptData, "{}: the Hub answered an unusable {} '{}'", url, what, name.substr(0, 80));
}

// A name beside `path` no other thread or process uses, for a file that is renamed onto `path` once whole.
fs::path temp_beside(const fs::path& path) {
  static std::atomic<uint64_t> serial{0};
  return path.string() + fmt::format(".tmp{}.{}", ::getpid(), serial++);
}

void check_safe_path(const std::string& repo, const std::string& path) {
  bool ok = !path.empty() && path[0] != '/' && path.find('\\') == std::string::npos;
  for (size_t start = 0; ok;) {
    const size_t slash = path.find('/', start);
    const std::string seg = path.substr(start, slash - start);
    ok = !seg.empty() && seg != "." && seg != "..";
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (!ok) fail(ErrorKind::kCorruptData, "{}: the Hub listed an unsafe file name '{}'", repo, path.substr(0, 200));
}

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, the last response's (after redirects)
  std::string body;                            // small bodies only (JSON, errors)
  CURLcode code = CURLE_OK;
  std::string curl_error;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a new response in a redirect chain
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    r->headers[lower(line.substr(0, colon))] = value;
  }
  return size * n;
}

size_t on_small_body(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  if (r->body.size() < (size_t(64) << 20)) r->body.append(data, size * n);
  return size * n;
}

class Easy {
 public:
  Easy() : h_(curl_easy_init()) {
    if (h_ == nullptr) fail(ErrorKind::kResourceExhausted, "cannot start an HTTP client (curl_easy_init failed)");
  }
  ~Easy() {
    if (list_ != nullptr) curl_slist_free_all(list_);
    curl_easy_cleanup(h_);
  }
  Easy(const Easy&) = delete;
  Easy& operator=(const Easy&) = delete;
  CURL* get() { return h_; }
  void add_header(const std::string& h) { list_ = curl_slist_append(list_, h.c_str()); }
  // The common settings, then perform(). `follow`: follow redirects (a download); else the 3xx is the answer.
  void prepare(const std::string& url, Response& r, bool follow, int stall_seconds) {
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
    curl_easy_setopt(h_, CURLOPT_USERAGENT, "hearth/" HEARTH_HUB_VERSION);
    curl_easy_setopt(h_, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(h_, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h_, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h_, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h_, CURLOPT_LOW_SPEED_TIME, long(std::max(1, stall_seconds)));
    curl_easy_setopt(h_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h_, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(h_, CURLOPT_ERRORBUFFER, error_);
    if (list_ != nullptr) curl_easy_setopt(h_, CURLOPT_HTTPHEADER, list_);
  }
  void perform(Response& r) {
    error_[0] = '\0';
    r.code = curl_easy_perform(h_);
    curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &r.status);
    r.curl_error = error_[0] != '\0' ? error_ : curl_easy_strerror(r.code);
  }

 private:
  CURL* h_;
  curl_slist* list_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
};

// The error for a failed exchange with the Hub, in the words of what was asked (`what`: "repository 'o/r'").
[[noreturn]] void fail_http(const Response& r, const std::string& url, const std::string& what, bool have_token) {
  if (r.code != CURLE_OK)
    fail(ErrorKind::kBusy, "{}: cannot reach the Hub: {} (check HF_ENDPOINT and the network)", url, r.curl_error);
  const std::string code = r.header("x-error-code");
  const std::string message = r.header("x-error-message");
  const std::string detail = message.empty() ? "" : " (" + message.substr(0, 200) + ")";
  if (code == "GatedRepo")
    fail("{}: {} is gated: accept its terms on the Hub's page, then set HF_TOKEN{}", url, what, detail);
  if (code == "RevisionNotFound") fail(ErrorKind::kNotFound, "{}: revision not found for {}{}", url, what, detail);
  if (code == "EntryNotFound") fail(ErrorKind::kNotFound, "{}: file not found in {}{}", url, what, detail);
  // The Hub answers 401 for a repo that does not exist or is private, so both read as not found.
  if (r.status == 404 || code == "RepoNotFound" || (r.status == 401 && !have_token))
    fail(ErrorKind::kNotFound, "{}: {} not found (HTTP {}){}{}", url, what, r.status, detail,
         have_token ? "" : "; if it is private or gated, set HF_TOKEN");
  if (r.status == 401 || r.status == 403)
    fail("{}: access to {} refused (HTTP {}): check HF_TOKEN{}", url, what, r.status, detail);
  fail(r.status >= 500 || r.status == 429 ? ErrorKind::kBusy : ErrorKind::kInvalidArgument,
       "{}: the Hub answered HTTP {} for {}{}", url, r.status, what, detail);
}

struct Sibling {
  std::string name;
  int64_t size = -1;
  std::string blob_id;  // git blob sha1
  std::string sha256;   // LFS files
};

struct RepoInfo {
  std::string commit;
  std::vector<Sibling> files;
};

class Puller {
 public:
  Puller(const HubRef& ref, const HubOptions& o, const PullCallback& cb) : ref_(ref), o_(o), cb_(cb) {
    repo_dir_ = fs::path(o_.cache_dir) / repo_folder_name(ref_.repo);
  }

  PullResult run(const std::string& revision) {
    report(PullProgress{});  // resolving
    const RepoInfo info = repo_info(revision);
    std::vector<std::string> names;
    for (const Sibling& s : info.files) names.push_back(s.name);
    const FileChoice choice = choose_files(ref_.repo, names, ref_.select);
    const fs::path snap = repo_dir_ / "snapshots" / info.commit;
    PullResult result;
    result.repo = ref_.repo;
    result.commit = info.commit;
    result.files = choice.files;
    result.gguf = choice.gguf;
    result.path = (choice.primary.empty() ? snap : snap / choice.primary).string();
    std::vector<const Sibling*> missing;
    std::error_code ec;
    for (const std::string& f : choice.files)
      if (!fs::exists(snap / f, ec))  // follows the link: the blob must be there too
        for (const Sibling& s : info.files)
          if (s.name == f) missing.push_back(&s);
    file_count_ = int(missing.size());
    for (const Sibling* s : missing) {
      ++file_index_;
      fetch(*s, info.commit, snap, result);
    }
    if (revision != info.commit) write_ref(revision, info.commit);
    PullProgress done;
    done.stage = PullProgress::Stage::kDone;
    done.file_count = file_count_;
    report(done);
    return result;
  }

 private:
  const HubRef& ref_;
  const HubOptions& o_;
  const PullCallback& cb_;
  fs::path repo_dir_;
  int file_index_ = 0, file_count_ = 0;

  void report(const PullProgress& p) {
    if (cb_ && !cb_(p)) fail(ErrorKind::kCancelled, "{}: pull cancelled", ref_.text());
  }

  void authorize(Easy& e, const std::string& url) {
    if (!o_.token.empty() && origin_of(url) == origin_of(o_.endpoint)) e.add_header("Authorization: Bearer " + o_.token);
  }

  RepoInfo repo_info(const std::string& revision) {
    const std::string url =
        fmt::format("{}/api/models/{}/revision/{}?blobs=true", o_.endpoint, ref_.repo, escape(revision));
    Easy e;
    Response r;
    authorize(e, url);
    e.prepare(url, r, true, o_.stall_seconds);
    curl_easy_setopt(e.get(), CURLOPT_WRITEFUNCTION, on_small_body);
    curl_easy_setopt(e.get(), CURLOPT_WRITEDATA, &r);
    e.perform(r);
    const std::string what = fmt::format("repository '{}' (revision '{}')", ref_.repo, revision);
    if (r.code != CURLE_OK || r.status != 200) fail_http(r, url, what, !o_.token.empty());
    const Json j = Json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("sha") || !j["sha"].is_string() || !j.contains("siblings") ||
        !j["siblings"].is_array())
      fail(ErrorKind::kCorruptData, "{}: the Hub's answer is not a model description (no 'sha' and 'siblings')", url);
    RepoInfo info;
    info.commit = j["sha"].get<std::string>();
    check_safe_name("commit", info.commit, url);
    for (const Json& s : j["siblings"]) {
      if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
      Sibling f;
      f.name = s["rfilename"].get<std::string>();
      check_safe_path(ref_.repo, f.name);
      if (s.contains("size") && s["size"].is_number_integer()) f.size = s["size"].get<int64_t>();
      if (s.contains("blobId") && s["blobId"].is_string()) f.blob_id = s["blobId"].get<std::string>();
      if (s.contains("lfs") && s["lfs"].is_object()) {
        const Json& lfs = s["lfs"];
        if (lfs.contains("sha256") && lfs["sha256"].is_string()) f.sha256 = lower(lfs["sha256"].get<std::string>());
        if (lfs.contains("size") && lfs["size"].is_number_integer()) f.size = lfs["size"].get<int64_t>();
      }
      info.files.push_back(std::move(f));
    }
    return info;
  }

  struct FileMeta {
    std::string etag, commit, location;
    int64_t size = -1;
  };

  // HEAD on the resolve URL, as huggingface_hub's get_hf_file_metadata: relative redirects (a renamed repo) are
  // followed, an absolute one (the CDN) is where the bytes are.
  FileMeta file_meta(const Sibling& s, const std::string& commit) {
    std::string url = fmt::format("{}/{}/resolve/{}/{}", o_.endpoint, ref_.repo, commit, escape_path(s.name));
    for (int hop = 0;; ++hop) {
      Easy e;
      Response r;
      authorize(e, url);
      e.add_header("Accept-Encoding: identity");
      e.prepare(url, r, false, o_.stall_seconds);
      curl_easy_setopt(e.get(), CURLOPT_NOBODY, 1L);
      e.perform(r);
      const std::string location = r.header("location");
      if (r.code == CURLE_OK && r.status >= 300 && r.status < 400 && !location.empty() && location[0] == '/' && hop < 5) {
        url = origin_of(url) + location;
        continue;
      }
      if (r.code != CURLE_OK || r.status >= 400)
        fail_http(r, url, fmt::format("'{}' in repository '{}'", s.name, ref_.repo), !o_.token.empty());
      FileMeta m;
      m.etag = normalize_etag(!r.header("x-linked-etag").empty() ? r.header("x-linked-etag") : r.header("etag"));
      m.commit = r.header("x-repo-commit");
      m.location = location.empty() ? url : location;
      const std::string size = !r.header("x-linked-size").empty() ? r.header("x-linked-size") : r.header("content-length");
      if (!size.empty()) m.size = std::strtoll(size.c_str(), nullptr, 10);
      if (m.etag.empty()) m.etag = !s.sha256.empty() ? s.sha256 : s.blob_id;
      if (m.etag.empty())
        fail(ErrorKind::kCorruptData, "{}: the Hub gave no ETag for '{}', so it cannot be cached reliably", url, s.name);
      check_safe_name("ETag", m.etag, url);
      if (m.size < 0) m.size = s.size;
      return m;
    }
  }

  // An exclusive flock on .locks/<repo>/<etag>.lock (huggingface_hub's lock file), held while the blob is made.
  class BlobLock {
   public:
    explicit BlobLock(const fs::path& path) {
      std::error_code ec;
      fs::create_directories(path.parent_path(), ec);
      fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
      if (fd_ < 0) fail(errno_kind(errno), "{}: cannot create the lock file: {}", path.string(), std::strerror(errno));
      while (::flock(fd_, LOCK_EX) != 0)
        if (errno != EINTR) fail("{}: cannot lock: {}", path.string(), std::strerror(errno));
    }
    ~BlobLock() { ::close(fd_); }  // closing releases the lock
    BlobLock(const BlobLock&) = delete;
    BlobLock& operator=(const BlobLock&) = delete;

   private:
    int fd_ = -1;
  };

  void fetch(const Sibling& s, const std::string& commit, const fs::path& snap, PullResult& result) {
    const FileMeta meta = file_meta(s, commit);
    const fs::path blob = repo_dir_ / "blobs" / meta.etag;
    std::error_code ec;
    fs::create_directories(blob.parent_path(), ec);
    if (!fs::exists(blob, ec)) {
      BlobLock lock(fs::path(o_.cache_dir) / ".locks" / repo_folder_name(ref_.repo) / (meta.etag + ".lock"));
      // Another process may have made it while this one waited for the lock.
      if (!fs::exists(blob, ec)) download(s, meta, blob, result);
    }
    link(snap / s.name, s.name, meta.etag);
  }

  struct Transfer {
    Puller* self = nullptr;
    int fd = -1;
    Sha256 hash;
    int64_t offset = 0;        // bytes in the file
    int64_t resumed_from = 0;
    int64_t received = 0;      // in this request
    bool checked_start = false;
    bool cancelled = false;
    std::string failure;       // why the write callback stopped the transfer
    std::string error_body;
    PullProgress progress;
    Clock::time_point started, last_report;
    CURL* curl = nullptr;
  };

  static size_t on_data(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t bytes = size * n;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
      if (t->error_body.size() < 4096) t->error_body.append(data, std::min<size_t>(bytes, 4096));
      return bytes;
    }
    if (!t->checked_start) {
      t->checked_start = true;
      // A server that ignores Range sends everything again from the start.
      if (status == 200 && t->offset > 0) {
        if (::ftruncate(t->fd, 0) != 0 || ::lseek(t->fd, 0, SEEK_SET) != 0) {
          t->failure = std::strerror(errno);
          return 0;
        }
        t->offset = t->resumed_from = 0;
        t->hash = Sha256();
      }
    }
    for (size_t written = 0; written < bytes;) {
      const ssize_t w = ::write(t->fd, data + written, bytes - written);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        t->failure = fmt::format("cannot write: {}", std::strerror(errno));
        return 0;
      }
      written += size_t(w);
    }
    t->hash.update(data, bytes);
    t->offset += int64_t(bytes);
    t->received += int64_t(bytes);
    const auto now = Clock::now();
    if (now - t->last_report >= std::chrono::milliseconds(100)) {
      t->last_report = now;
      if (!t->self->report_transfer(*t, now)) {
        t->cancelled = true;
        return 0;
      }
    }
    return bytes;
  }

  bool report_transfer(Transfer& t, Clock::time_point now) {
    t.progress.done = t.offset;
    t.progress.resumed_from = t.resumed_from;
    const double seconds = std::chrono::duration<double>(now - t.started).count();
    t.progress.bytes_per_second = seconds > 0 ? double(t.received) / seconds : 0;
    return !cb_ || cb_(t.progress);
  }

  // Hashes what an interrupted download left, so the digest covers the whole file once it completes.
  static void hash_existing(int fd, int64_t size, Sha256& hash, const fs::path& path) {
    std::vector<char> buf(1 << 20);
    for (int64_t at = 0; at < size;) {
      const ssize_t n = ::pread(fd, buf.data(), size_t(std::min<int64_t>(int64_t(buf.size()), size - at)), at);
      if (n <= 0) fail(ErrorKind::kCorruptData, "{}: cannot read the partial download: {}", path.string(), std::strerror(errno));
      hash.update(buf.data(), size_t(n));
      at += n;
    }
  }

  void download(const Sibling& s, const FileMeta& meta, const fs::path& blob, PullResult& result) {
    const fs::path part = blob.string() + ".incomplete";
    const int fd = ::open(part.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) fail(errno_kind(errno), "{}: cannot create: {}", part.string(), std::strerror(errno));
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    const std::string expected_sha = !s.sha256.empty() ? s.sha256 : "";
    Transfer t;
    t.self = this;
    t.fd = fd;
    t.progress.stage = PullProgress::Stage::kDownloading;
    t.progress.file = s.name;
    t.progress.file_index = file_index_;
    t.progress.file_count = file_count_;
    t.progress.total = std::max<int64_t>(0, meta.size);
    for (int attempt = 0;; ++attempt) {
      struct stat st {};
      t.offset = ::fstat(fd, &st) == 0 ? int64_t(st.st_size) : 0;
      if (meta.size >= 0 && t.offset > meta.size) {  // not this file's bytes: start again
        if (::ftruncate(fd, 0) != 0) fail(errno_kind(errno), "{}: {}", part.string(), std::strerror(errno));
        t.offset = 0;
      }
      ::lseek(fd, t.offset, SEEK_SET);
      t.hash = Sha256();
      if (!expected_sha.empty()) hash_existing(fd, t.offset, t.hash, part);
      t.resumed_from = t.offset;
      t.received = 0;
      t.checked_start = false;
      t.error_body.clear();
      t.started = t.last_report = Clock::now();
      report_or_cancel(t);
      if (meta.size >= 0 && t.offset == meta.size && t.offset > 0) break;  // complete already: only the checks left
      Easy e;
      Response r;
      authorize(e, meta.location);
      if (t.offset > 0) e.add_header(fmt::format("Range: bytes={}-", t.offset));
      e.prepare(meta.location, r, true, o_.stall_seconds);
      t.curl = e.get();
      curl_easy_setopt(e.get(), CURLOPT_WRITEFUNCTION, on_data);
      curl_easy_setopt(e.get(), CURLOPT_WRITEDATA, &t);
      e.perform(r);
      result.bytes_downloaded += t.received;
      if (t.cancelled) fail(ErrorKind::kCancelled, "{}: pull cancelled during {} ({} bytes kept to resume)", ref_.text(), s.name, t.offset);
      if (!t.failure.empty()) fail(ErrorKind::kResourceExhausted, "{}: {}", part.string(), t.failure);
      if (r.code == CURLE_OK && r.status == 416 && t.offset > 0 && meta.size < 0) break;  // nothing left to send
      if (r.code == CURLE_OK && r.status >= 200 && r.status < 300) break;
      const bool transient = r.code != CURLE_OK || r.status >= 500 || r.status == 429;
      if (!transient || attempt >= o_.retries) {
        if (r.code != CURLE_OK)
          fail(ErrorKind::kBusy, "{}: download of {} failed after {} bytes: {} (run the pull again to resume)",
               meta.location, s.name, t.offset, r.curl_error);
        r.body = t.error_body;
        fail_http(r, meta.location, fmt::format("'{}' in repository '{}'", s.name, ref_.repo), !o_.token.empty());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250 * (attempt + 1)));
    }
    report_or_cancel(t);
    if (meta.size >= 0 && t.offset != meta.size) {
      fs::remove(part);
      fail(ErrorKind::kCorruptData, "{}: {} has {} bytes, the Hub said {}; the download was deleted, pull again",
           ref_.text(), s.name, t.offset, meta.size);
    }
    if (!expected_sha.empty()) {
      const std::string got = to_hex(t.hash.digest());
      if (got != expected_sha) {
        fs::remove(part);
        fail(ErrorKind::kCorruptData, "{}: {} is corrupt: its sha256 is {}, the Hub's is {}; the download was deleted, "
             "pull again", ref_.text(), s.name, got, expected_sha);
      }
    }
    if (::fsync(fd) != 0) fail(errno_kind(errno), "{}: {}", part.string(), std::strerror(errno));
    fs::rename(part, blob);
    ++result.files_downloaded;
  }

  void report_or_cancel(Transfer& t) {
    if (!report_transfer(t, Clock::now()))
      fail(ErrorKind::kCancelled, "{}: pull cancelled during {}", ref_.text(), t.progress.file);
  }

  // snapshots/<commit>/<file> -> ../../blobs/<etag> (one more "../" per folder in the file's path), made under a
  // temporary name and renamed, so a reader never sees a half-made link.
  void link(const fs::path& at, const std::string& name, const std::string& etag) {
    std::string target;
    for (int i = 0, n = 2 + int(std::count(name.begin(), name.end(), '/')); i < n; ++i) target += "../";
    target += "blobs/" + etag;
    std::error_code ec;
    fs::create_directories(at.parent_path(), ec);
    if (fs::read_symlink(at, ec) == fs::path(target)) return;
    const fs::path tmp = temp_beside(at);
    fs::create_symlink(target, tmp);
    fs::rename(tmp, at);
  }

  void write_ref(const std::string& revision, const std::string& commit) {
    const fs::path ref = repo_dir_ / "refs" / revision;
    std::error_code ec;
    fs::create_directories(ref.parent_path(), ec);
    const fs::path tmp = temp_beside(ref);
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f << commit;
      if (!f) fail(ErrorKind::kResourceExhausted, "{}: cannot write", tmp.string());
    }
    fs::rename(tmp, ref);
  }
};

std::string token_from_env() {
  if (std::string t = env("HF_TOKEN"); !t.empty()) return t;
  if (std::string t = env("HUGGING_FACE_HUB_TOKEN"); !t.empty()) return t;
  const fs::path home = !env("HF_HOME").empty() ? fs::path(env("HF_HOME"))
                        : !env("XDG_CACHE_HOME").empty() ? fs::path(env("XDG_CACHE_HOME")) / "huggingface"
                                                          : fs::path(env("HOME")) / ".cache" / "huggingface";
  const fs::path file = !env("HF_TOKEN_PATH").empty() ? fs::path(env("HF_TOKEN_PATH")) : home / "token";
  std::ifstream f(file);
  std::string t;
  std::getline(f, t);
  while (!t.empty() && (t.back() == '\r' || t.back() == ' ')) t.pop_back();
  return t;
}

}  // namespace

HubOptions hub_options_from_env() {
  HubOptions o;
  o.endpoint = env("HF_ENDPOINT").empty() ? "https://huggingface.co" : env("HF_ENDPOINT");
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  o.token = token_from_env();
  o.cache_dir = hub_cache_dir();
  const std::string offline = lower(env("HF_HUB_OFFLINE"));
  o.offline = offline == "1" || offline == "true" || offline == "yes" || offline == "on";
  return o;
}

PullResult pull(const HubRef& ref, const std::string& revision, const HubOptions& options, const PullCallback& progress) {
  if (revision.empty()) fail("{}: the revision must not be empty", ref.text());
  HubOptions o = options;
  const HubOptions defaults = hub_options_from_env();
  if (o.endpoint.empty()) o.endpoint = defaults.endpoint;
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  if (o.cache_dir.empty()) o.cache_dir = defaults.cache_dir;
  if (o.token.empty()) o.token = defaults.token;
  o.offline = o.offline || defaults.offline;
  if (o.offline) {
    PullResult r;
    r.repo = ref.repo;
    try {
      r.path = resolve_cached(ref, revision, o.cache_dir);
    } catch (const Error& e) {
      throw Error(fmt::format("{} (offline: HF_HUB_OFFLINE is set)", e.what()), e.kind());
    }
    r.gguf = !fs::is_directory(r.path);
    return r;
  }
  curl_init_once();
  return Puller(ref, o, progress).run(revision);
}

}  // namespace hearth::hub
