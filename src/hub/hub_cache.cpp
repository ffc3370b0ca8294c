#include "hub/hub_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "hub/hub_internal.h"

namespace hearth::hub {

namespace fs = std::filesystem;

namespace {

bool ends_with_ci(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && lower(s.substr(s.size() - suffix.size())) == suffix;
}

bool is_gguf_name(const std::string& name) { return ends_with_ci(name, ".gguf"); }

// "model-00001-of-00003.gguf" -> "model.gguf": the parts of one split GGUF share it.
std::string split_base(const std::string& name) {
  std::string stem = name.substr(0, name.size() - 5);
  const size_t n = stem.size();
  // -NNNNN-of-NNNNN
  if (n >= 15 && stem.compare(n - 9, 4, "-of-") == 0 && stem[n - 15] == '-') {
    const std::string digits = stem.substr(n - 14, 5) + stem.substr(n - 5);
    if (std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return stem.substr(0, n - 15) + ".gguf";
  }
  return name;
}

bool is_quant_token(const std::string& t) {
  const std::string u = upper(t);
  if (u == "F16" || u == "F32" || u == "BF16" || u == "FP16" || u == "FP32") return true;
  size_t i = 0;
  if (u.rfind("IQ", 0) == 0 || u.rfind("TQ", 0) == 0) i = 2;
  else if (u.rfind("Q", 0) == 0) i = 1;
  else return false;
  return i < u.size() && u[i] >= '1' && u[i] <= '8';
}

// A safetensors model folder's files: at the top, configuration, weights, tokenizer and template files; below,
// the sentence-transformers modules ("1_Pooling/config.json").
bool is_folder_file(const std::string& name) {
  const size_t slash = name.find('/');
  if (slash == std::string::npos) {
    for (const char* ext : {".json", ".safetensors", ".txt", ".model", ".jinja"})
      if (ends_with_ci(name, ext)) return true;
    return false;
  }
  return name.find('/', slash + 1) == std::string::npos && name[0] >= '0' && name[0] <= '9' &&
         ends_with_ci(name, ".json");
}

// "Q4_K_M (m-Q4_K_M.gguf), ...": one entry per model (a split model's first part).
std::string quant_list(const std::vector<std::string>& ggufs) {
  std::string out;
  std::set<std::string> seen;
  for (const std::string& g : ggufs) {
    if (!seen.insert(split_base(g)).second) continue;
    if (!out.empty()) out += ", ";
    const std::string q = gguf_quant(g);
    out += q.empty() ? g : fmt::format("{} ({})", q, g);
  }
  return out;
}

std::string read_small_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), {});
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Every file below a snapshot folder, repo-relative, sorted.
std::vector<std::string> snapshot_files(const fs::path& snap) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(snap, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    // Lexically: fs::relative would follow the link into blobs/.
    if (!it->is_directory(e2)) out.push_back(it->path().lexically_relative(snap).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// refs/<name> -> commit, for every ref of a repo folder (refs may nest: refs/pr/1).
std::map<std::string, std::string> read_refs(const fs::path& repo_dir) {
  std::map<std::string, std::string> refs;
  std::error_code ec;
  const fs::path dir = repo_dir / "refs";
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) refs[it->path().lexically_relative(dir).generic_string()] = read_small_file(it->path());
  }
  return refs;
}

std::string repo_of_folder(const std::string& folder) {
  // models--OWNER--REPO; Hub names hold no "--", so the first separator after the prefix splits them.
  const std::string rest = folder.substr(8);
  const size_t sep = rest.find("--");
  return sep == std::string::npos ? rest : rest.substr(0, sep) + "/" + rest.substr(sep + 2);
}

}  // namespace

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string hub_cache_dir() {
  if (std::string d = env("HF_HUB_CACHE"); !d.empty()) return d;
  if (std::string d = env("HUGGINGFACE_HUB_CACHE"); !d.empty()) return d;
  if (std::string d = env("HF_HOME"); !d.empty()) return (fs::path(d) / "hub").string();
  if (std::string d = env("XDG_CACHE_HOME"); !d.empty()) return (fs::path(d) / "huggingface" / "hub").string();
  return (fs::path(env("HOME").empty() ? "/tmp" : env("HOME")) / ".cache" / "huggingface" / "hub").string();
}

std::string repo_folder_name(const std::string& repo) {
  std::string out = "models--";
  for (char c : repo) {
    if (c == '/') out += "--";
    else out += c;
  }
  return out;
}

std::string gguf_quant(const std::string& file_name) {
  std::string name = file_name.substr(file_name.rfind('/') == std::string::npos ? 0 : file_name.rfind('/') + 1);
  if (is_gguf_name(name)) name = split_base(name);
  if (is_gguf_name(name)) name.resize(name.size() - 5);
  // The quant is the last '-' or '.' separated token that looks like one.
  size_t end = name.size();
  while (end > 0) {
    const size_t start = name.find_last_of("-.", end - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    const std::string token = name.substr(from, end - from);
    if (is_quant_token(token)) return upper(token);
    if (start == std::string::npos) break;
    end = start;
  }
  return "";
}

FileChoice choose_files(const std::string& repo, const std::vector<std::string>& names, const std::string& select) {
  std::vector<std::string> ggufs;
  for (const std::string& n : names)
    if (is_gguf_name(n)) ggufs.push_back(n);
  std::sort(ggufs.begin(), ggufs.end());
  // The matching files grouped by split model: one group is a choice, several are ambiguous.
  auto pick_gguf = [&](const std::vector<std::string>& matches, const std::string& what) {
    std::map<std::string, std::vector<std::string>> groups;
    for (const std::string& m : matches) groups[split_base(m)].push_back(m);
    if (groups.empty()) {
      if (ggufs.empty()) fail(ErrorKind::kNotFound, "{}: no GGUF file in the repo matches '{}' (it holds none)", repo, select);
      fail(ErrorKind::kNotFound, "{}: no GGUF file matches '{}'; available: {}", repo, select, quant_list(ggufs));
    }
    if (groups.size() > 1) {
      std::vector<std::string> firsts;
      for (const auto& [base, parts] : groups) firsts.push_back(parts.front());
      fail("{}: {} several GGUF files: {}; choose one with {}:QUANT or {}:FILE", repo, what, quant_list(firsts), repo,
           repo);
    }
    FileChoice c;
    c.files = groups.begin()->second;
    c.primary = c.files.front();
    c.gguf = true;
    return c;
  };
  if (!select.empty()) {
    // An exact file name (at the top of the repo, or a path inside it).
    for (const std::string& n : names)
      if (n == select || (n.size() > select.size() && n.compare(n.size() - select.size(), select.size(), select) == 0 &&
                          n[n.size() - select.size() - 1] == '/')) {
        if (is_gguf_name(n)) return pick_gguf({n}, "");
        return FileChoice{{n}, n, false};
      }
    std::vector<std::string> exact, partial;
    for (const std::string& g : ggufs) {
      if (upper(gguf_quant(g)) == upper(select)) exact.push_back(g);
      if (upper(g).find(upper(select)) != std::string::npos) partial.push_back(g);
    }
    return pick_gguf(exact.empty() ? partial : exact, fmt::format("'{}' matches", select));
  }
  const bool has_config = std::find(names.begin(), names.end(), "config.json") != names.end();
  const bool has_safetensors =
      std::any_of(names.begin(), names.end(), [](const std::string& n) { return ends_with_ci(n, ".safetensors"); });
  if (has_config && has_safetensors) {
    FileChoice c;
    for (const std::string& n : names)
      if (is_folder_file(n)) c.files.push_back(n);
    std::sort(c.files.begin(), c.files.end());
    return c;
  }
  if (!ggufs.empty()) return pick_gguf(ggufs, "holds");
  fail(ErrorKind::kUnsupported, "{}: the repo holds neither GGUF files nor a safetensors model (config.json and "
       "*.safetensors)", repo);
}

std::string resolve_cached(const HubRef& ref, const std::string& revision, const std::string& cache_dir) {
  const fs::path repo_dir = fs::path(cache_dir) / repo_folder_name(ref.repo);
  const std::string hint = fmt::format("run `hearth pull {}`", ref.text());
  std::error_code ec;
  if (!fs::is_directory(repo_dir / "snapshots", ec))
    fail(ErrorKind::kNotFound, "{}: no such file or folder, and no Hugging Face model '{}' in the hub cache {} ({})", ref.text(),
         ref.repo, cache_dir, hint);
  std::string commit;
  if (fs::is_regular_file(repo_dir / "refs" / revision, ec)) commit = read_small_file(repo_dir / "refs" / revision);
  else if (fs::is_directory(repo_dir / "snapshots" / revision, ec)) commit = revision;
  else if (revision == "main") {
    // A cache written by hand or by an older tool without refs: the newest snapshot.
    fs::file_time_type newest{};
    for (const auto& e : fs::directory_iterator(repo_dir / "snapshots", ec))
      if (e.is_directory() && (commit.empty() || e.last_write_time() > newest)) {
        commit = e.path().filename().string();
        newest = e.last_write_time();
      }
  }
  if (commit.empty() || !fs::is_directory(repo_dir / "snapshots" / commit, ec))
    fail(ErrorKind::kNotFound, "{}: revision '{}' of '{}' is not in the hub cache {} ({})", ref.text(), revision, ref.repo,
         cache_dir, hint);
  const fs::path snap = repo_dir / "snapshots" / commit;
  FileChoice choice;
  try {
    choice = choose_files(ref.repo, snapshot_files(snap), ref.select);
  } catch (const Error& e) {
    throw Error(fmt::format("{} (in the hub cache; {} to fetch it)", e.what(), hint), e.kind());
  }
  for (const std::string& f : choice.files)
    if (!fs::exists(snap / f, ec))  // follows the symlink: its blob must be there
      fail(ErrorKind::kNotFound, "{}: {} is not complete in the hub cache (its blob is missing; {})", ref.text(), f, hint);
  return (choice.primary.empty() ? snap : snap / choice.primary).string();
}

std::vector<CachedModel> list_cached_models(const std::string& cache_dir) {
  std::vector<CachedModel> out;
  std::error_code ec;
  std::vector<fs::path> repos;
  for (const auto& e : fs::directory_iterator(cache_dir, ec))
    if (e.path().filename().string().rfind("models--", 0) == 0 && e.is_directory()) repos.push_back(e.path());
  std::sort(repos.begin(), repos.end());
  for (const fs::path& repo_dir : repos) {
    const std::string repo = repo_of_folder(repo_dir.filename().string());
    const auto refs = read_refs(repo_dir);
    std::vector<fs::path> snaps;
    for (const auto& e : fs::directory_iterator(repo_dir / "snapshots", ec))
      if (e.is_directory()) snaps.push_back(e.path());
    std::sort(snaps.begin(), snaps.end());
    for (const fs::path& snap : snaps) {
      CachedModel base;
      base.repo = repo;
      base.commit = snap.filename().string();
      for (const auto& [name, commit] : refs)
        if (commit == base.commit) base.refs.push_back(name);
      const std::vector<std::string> files = snapshot_files(snap);
      auto size_of = [&](const std::string& f, CachedModel& m) {
        std::error_code e2;
        const auto n = fs::file_size(snap / f, e2);
        if (e2) m.complete = false;
        else m.size_bytes += int64_t(n);
      };
      if (std::find(files.begin(), files.end(), "config.json") != files.end()) {
        CachedModel m = base;
        m.path = snap.string();
        for (const std::string& f : files) size_of(f, m);
        out.push_back(m);
      }
      std::set<std::string> seen_splits;
      for (const std::string& f : files) {
        if (!is_gguf_name(f) || !seen_splits.insert(split_base(f)).second) continue;
        CachedModel m = base;
        m.file = f;
        m.gguf = true;
        m.path = (snap / f).string();
        for (const std::string& part : files)
          if (is_gguf_name(part) && split_base(part) == split_base(f)) size_of(part, m);
        out.push_back(m);
      }
    }
  }
  return out;
}

RemoveResult remove_cached(const HubRef& ref, const std::string& cache_dir) {
  const fs::path repo_dir = fs::path(cache_dir) / repo_folder_name(ref.repo);
  std::error_code ec;
  if (!fs::is_directory(repo_dir, ec))
    fail(ErrorKind::kNotFound, "{}: no such model in the hub cache {}", ref.repo, cache_dir);
  RemoveResult r;
  // What each snapshot entry loses, then the blobs nothing links to any more.
  std::vector<fs::path> snaps;
  for (const auto& e : fs::directory_iterator(repo_dir / "snapshots", ec))
    if (e.is_directory()) snaps.push_back(e.path());
  for (const fs::path& snap : snaps) {
    const std::vector<std::string> files = snapshot_files(snap);
    std::vector<std::string> doomed = files;
    if (!ref.select.empty()) {
      try {
        doomed = choose_files(ref.repo, files, ref.select).files;
      } catch (const Error&) {
        continue;  // this snapshot does not hold it
      }
    }
    for (const std::string& f : doomed)
      if (fs::remove(snap / f, ec)) ++r.links;
  }
  if (r.links == 0 && !ref.select.empty())
    fail(ErrorKind::kNotFound, "{}: nothing in the cached snapshots of '{}' matches '{}'", ref.text(), ref.repo, ref.select);
  std::set<std::string> used;
  for (const fs::path& snap : snaps) {
    for (const std::string& f : snapshot_files(snap)) {
      std::error_code e2;
      const fs::path target = fs::read_symlink(snap / f, e2);
      if (!e2) used.insert(target.filename().string());
    }
    // Empty folders left behind, deepest first, then the snapshot itself when nothing is left in it.
    std::vector<fs::path> dirs;
    for (fs::recursive_directory_iterator it(snap, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory()) dirs.push_back(it->path());
    std::sort(dirs.rbegin(), dirs.rend());
    for (const fs::path& d : dirs) fs::remove(d, ec);  // only succeeds when empty
    fs::remove(snap, ec);
  }
  for (const auto& e : fs::directory_iterator(repo_dir / "blobs", ec)) {
    const std::string name = e.path().filename().string();
    if (used.count(name)) continue;
    std::error_code e2;
    const auto size = e.is_regular_file(e2) ? int64_t(e.file_size(e2)) : 0;
    if (fs::remove(e.path(), e2)) {
      ++r.blobs;
      r.bytes_freed += size;
    }
  }
  // Refs whose snapshot is gone, and the repo when no snapshot is left.
  for (const auto& [name, commit] : read_refs(repo_dir))
    if (!fs::exists(repo_dir / "snapshots" / commit, ec)) fs::remove(repo_dir / "refs" / name, ec);
  bool any_snapshot = false;
  for (const auto& e : fs::directory_iterator(repo_dir / "snapshots", ec)) any_snapshot |= e.is_directory();
  if (!any_snapshot) {
    fs::remove_all(repo_dir, ec);
    fs::remove_all(fs::path(cache_dir) / ".locks" / repo_folder_name(ref.repo), ec);
  }
  return r;
}

}  // namespace hearth::hub
