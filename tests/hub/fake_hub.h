// A loopback Hugging Face Hub for the tests (hub, server, setup): it answers the Hub's URL layout the way
// huggingface.co does, so the client under test cannot tell it apart:
//
//   GET  /api/models/OWNER/REPO/revision/REV   {"id", "sha", "siblings": [{"rfilename", "size", "blobId", "lfs"}]}
//   HEAD|GET /OWNER/REPO/resolve/REV/FILE      LFS files: 302 to /blobs/<sha256> with X-Linked-Etag, X-Linked-Size
//                                              and X-Repo-Commit; small files: 200 with ETag (the git blob id)
//   GET  /blobs/<sha256>                       the bytes, with Range support (206)
//
// Unknown repos, revisions and files answer 404 with the Hub's X-Error-Code. The test can make a blob's next
// download drop the connection after some bytes, or serve bytes that do not match its sha256; it counts requests.
// Binds 127.0.0.1 on a free port; stops in its destructor.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/sha256.h"

namespace hearth::test {

// A valid GGUF file with no tensors: the metadata `models list` reads (architecture, file type, name) and a
// padding string that gives it `size` bytes or a little more, for downloads worth a progress bar.
inline std::string tiny_gguf(const std::string& arch, uint32_t file_type, size_t size = 0) {
  std::string out = "GGUF";
  auto u32 = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); };
  auto str = [&](const std::string& s) { u64(s.size()); out += s; };
  u32(3);  // version
  u64(0);  // tensors
  u64(4);  // metadata pairs
  str("general.architecture");
  u32(8);
  str(arch);
  str("general.name");
  u32(8);
  str("tiny " + arch);
  str("general.file_type");
  u32(4);
  u32(file_type);
  str("general.alignment");
  u32(4);
  u32(32);
  // The padding's own header is 8 (key length) + 12 (key) + 4 (type) + 8 (length) bytes.
  std::string pad(size > out.size() + 32 ? size - out.size() - 32 : 0, 'x');
  for (size_t i = 0; i < pad.size(); ++i) pad[i] = char('a' + (i * 7) % 26);
  str("test.padding");
  u32(8);
  str(pad);
  return out;
}

class FakeHub {
 public:
  struct File {
    std::string content;
    bool lfs = true;
  };

  FakeHub() {
    server_.Get(R"(/api/models/([^/]+)/([^/]+)/revision/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      ++api_requests;
      std::lock_guard<std::mutex> lock(mu_);
      if (!authorized(req, res)) return;
      const Repo* repo = find_repo(req.matches[1].str() + "/" + req.matches[2].str(), res);
      if (repo == nullptr) return;
      if (!known_revision(*repo, req.matches[3], res)) return;
      nlohmann::json siblings = nlohmann::json::array();
      for (const auto& [name, f] : repo->files) {
        nlohmann::json s = {{"rfilename", name}, {"size", f.content.size()}, {"blobId", blob_id(f.content)}};
        if (f.lfs) s["lfs"] = {{"sha256", sha256_hex(f.content)}, {"size", f.content.size()}, {"pointerSize", 134}};
        siblings.push_back(s);
      }
      const nlohmann::json body = {{"id", req.matches[1].str() + "/" + req.matches[2].str()},
                                   {"sha", repo->commit},
                                   {"siblings", siblings}};
      res.set_content(body.dump(), "application/json");
    });
    auto resolve = [this](const httplib::Request& req, httplib::Response& res) {
      ++resolve_requests;
      std::lock_guard<std::mutex> lock(mu_);
      if (!authorized(req, res)) return;
      const Repo* repo = find_repo(req.matches[1].str() + "/" + req.matches[2].str(), res);
      if (repo == nullptr || !known_revision(*repo, req.matches[3], res)) return;
      auto it = repo->files.find(req.matches[4]);
      if (it == repo->files.end()) {
        res.status = 404;
        res.set_header("X-Error-Code", "EntryNotFound");
        return;
      }
      const File& f = it->second;
      res.set_header("X-Repo-Commit", repo->commit);
      if (f.lfs) {
        const std::string sha = sha256_hex(f.content);
        blobs_[sha] = f.content;
        res.status = 302;
        res.set_header("Location", url() + "/blobs/" + sha);
        res.set_header("X-Linked-Etag", "\"" + sha + "\"");
        res.set_header("X-Linked-Size", std::to_string(f.content.size()));
        res.set_header("ETag", "\"" + blob_id(f.content) + "\"");
        return;
      }
      res.set_header("ETag", "\"" + blob_id(f.content) + "\"");
      if (req.method == "HEAD") {
        res.set_header("Content-Length", std::to_string(f.content.size()));
        return;
      }
      ++file_downloads;
      res.set_content(f.content, "application/octet-stream");
    };
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))", resolve);
    server_.Get(R"(/blobs/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::string content;
      size_t drop_after = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = blobs_.find(req.matches[1]);
        if (it == blobs_.end()) {
          res.status = 404;
          return;
        }
        content = it->second;
        if (auto c = corrupt_.find(req.matches[1]); c != corrupt_.end()) content[content.size() / 2] ^= 0x55;
        if (auto d = drop_.find(req.matches[1]); d != drop_.end()) {
          drop_after = d->second;
          drop_.erase(d);
        }
        ranges.push_back(req.get_header_value("Range"));
      }
      ++file_downloads;
      // The provider is asked for the requested range (httplib answers 206 with Content-Range for a Range header).
      res.set_content_provider(content.size(), "application/octet-stream",
                               [content, drop_after](size_t offset, size_t length, httplib::DataSink& sink) {
                                 size_t end = offset + length;
                                 if (drop_after > 0 && drop_after < end) end = drop_after;
                                 if (end > offset && !sink.write(content.data() + offset, end - offset)) return false;
                                 return end == offset + length;  // false: the connection is dropped mid-file
                               });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() does nothing before the accept loop runs, so the destructor must not race its start.
    for (int i = 0; i < 1000 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeHub() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Adds (or replaces) a repo at `commit` (40 hex digits), reachable as "main" and by its commit.
  void add_repo(const std::string& repo, const std::string& commit, std::map<std::string, File> files) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, f] : files)
      if (f.lfs) blobs_[sha256_hex(f.content)] = f.content;
    repos_[repo] = Repo{commit, std::move(files)};
  }
  // The next download of this content stops after `bytes` bytes (the connection is closed).
  void drop_next_download(const std::string& content, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    drop_[sha256_hex(content)] = bytes;
  }
  // Every download of this content has one byte flipped.
  void corrupt(const std::string& content) {
    std::lock_guard<std::mutex> lock(mu_);
    corrupt_[sha256_hex(content)] = true;
  }
  // From now on the API and resolve URLs want "Authorization: Bearer <token>" (the blobs, like the Hub's CDN, do
  // not), and answer 401 RepoNotFound without it, as the Hub does for a private repo.
  void require_token(const std::string& token) {
    std::lock_guard<std::mutex> lock(mu_);
    token_ = token;
  }
  std::vector<std::string> range_headers() {
    std::lock_guard<std::mutex> lock(mu_);
    return ranges;
  }

  // git's blob id is sha1("blob <size>\0<content>"); a fake id of the same shape (40 hex digits) is enough here,
  // since the client only uses it as a file name.
  static std::string blob_id(const std::string& content) { return sha256_hex("blob " + content).substr(0, 40); }

  std::atomic<int> api_requests{0}, resolve_requests{0}, file_downloads{0};

 private:
  struct Repo {
    std::string commit;
    std::map<std::string, File> files;
  };

  const Repo* find_repo(const std::string& name, httplib::Response& res) {
    auto it = repos_.find(name);
    if (it != repos_.end()) return &it->second;
    res.status = 404;
    res.set_header("X-Error-Code", "RepoNotFound");
    res.set_header("X-Error-Message", "Repository not found");
    return nullptr;
  }
  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (token_.empty() || req.get_header_value("Authorization") == "Bearer " + token_) return true;
    res.status = 401;
    res.set_header("X-Error-Code", "RepoNotFound");
    return false;
  }
  static bool known_revision(const Repo& repo, const std::string& rev, httplib::Response& res) {
    if (rev == "main" || rev == repo.commit) return true;
    res.status = 404;
    res.set_header("X-Error-Code", "RevisionNotFound");
    return false;
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, Repo> repos_;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, size_t> drop_;
  std::map<std::string, bool> corrupt_;
  std::vector<std::string> ranges;
  std::string token_;
};

}  // namespace hearth::test
