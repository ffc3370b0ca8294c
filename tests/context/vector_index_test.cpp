#include "context/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "context/inner_product.h"
#include "core/error.h"
#include "test_util.h"

namespace hearth::context {
namespace {

using test::TempDir;

void normalize(std::vector<float>& v) {
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  const float scale = norm > 0 ? float(1.0 / std::sqrt(norm)) : 0.f;
  for (float& x : v) x *= scale;
}

std::vector<float> random_unit(std::mt19937& rng, int dim) {
  std::normal_distribution<float> gauss;
  std::vector<float> v(static_cast<size_t>(dim));
  for (float& x : v) x = gauss(rng);
  normalize(v);
  return v;
}

// Unit vectors shaped like text embeddings rather than uniform noise: topics, subtopics within them, and within
// a subtopic variation along a few dozen shared directions (embeddings have a low intrinsic dimension) plus a
// little noise in all of them. Cosines come out about 0.8 inside a subtopic, 0.5 across a topic's subtopics and
// near 0 across topics. Neighbours inside a subtopic differ by little, which is where HNSW loses recall.
std::vector<std::vector<float>> embedding_like(std::mt19937& rng, int count, int dim, int topics, int subtopics) {
  std::vector<std::vector<float>> centres;
  for (int t = 0; t < topics; ++t) {
    const auto topic = random_unit(rng, dim);
    for (int s = 0; s < subtopics; ++s) {
      auto centre = random_unit(rng, dim);
      for (size_t d = 0; d < centre.size(); ++d) centre[d] = topic[d] + 0.8f * centre[d];
      normalize(centre);
      centres.push_back(std::move(centre));
    }
  }
  std::vector<std::vector<float>> directions;
  for (int k = 0; k < 48; ++k) directions.push_back(random_unit(rng, dim));
  std::uniform_int_distribution<size_t> which(0, centres.size() - 1);
  std::normal_distribution<float> gauss;
  std::vector<std::vector<float>> points;
  for (int i = 0; i < count; ++i) {
    std::vector<float> p = centres[which(rng)];
    std::vector<float> along(static_cast<size_t>(dim));
    for (const auto& direction : directions) {
      const float z = gauss(rng);
      for (size_t d = 0; d < along.size(); ++d) along[d] += z * direction[d];
    }
    normalize(along);
    const auto noise = random_unit(rng, dim);
    for (size_t d = 0; d < p.size(); ++d) p[d] += 0.5f * along[d] + 0.2f * noise[d];
    normalize(p);
    points.push_back(std::move(p));
  }
  return points;
}

float dot(const std::vector<float>& a, const float* b) {
  float s[8] = {};  // eight sums, so the brute-force pass vectorizes
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8)
    for (size_t j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  float total = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
  for (; i < a.size(); ++i) total += a[i] * b[i];
  return total;
}

template <class Fn>
ErrorKind error_kind_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no hearth::Error thrown";
  return ErrorKind::kCancelled;
}

// The kernel chosen for this CPU and the portable one agree with a double-precision sum, for every length
// around the vector widths (tails included).
TEST(VectorIndex, InnerProductKernels) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> value(-1, 1);
  for (size_t n = 0; n <= 100; ++n) {
    std::vector<float> a(n + 1), b(n + 1);
    for (size_t i = 0; i <= n; ++i) a[i] = value(rng), b[i] = value(rng);
    for (size_t offset : {0, 1}) {  // 1: rows that start off a vector boundary
      double exact = 0;
      for (size_t i = offset; i < offset + n; ++i) exact += double(a[i]) * b[i];
      EXPECT_NEAR(inner_product_kernel()(a.data() + offset, b.data() + offset, n), exact, 1e-4) << n;
      EXPECT_NEAR(inner_product_generic(a.data() + offset, b.data() + offset, n), exact, 1e-4) << n;
    }
  }
}

TEST(VectorIndex, ExactOnSmallSets) {
  std::mt19937 rng(1);
  constexpr int kDim = 32;
  VectorIndex index(kDim);
  EXPECT_EQ(index.dim(), kDim);
  std::vector<float> query = random_unit(rng, kDim);
  EXPECT_TRUE(index.search(query.data(), 5).empty());  // empty index

  std::vector<std::vector<float>> points;
  for (int i = 0; i < 300; ++i) {
    points.push_back(random_unit(rng, kDim));
    index.add(1000 + i, points.back().data());
  }
  EXPECT_EQ(index.size(), 300u);
  EXPECT_EQ(index.deleted_count(), 0u);
  for (int i = 0; i < 300; ++i) {
    const auto hits = index.search(points[size_t(i)].data(), 3);
    ASSERT_EQ(hits.size(), 3u);
    EXPECT_EQ(hits[0].first, 1000 + i);
    EXPECT_NEAR(hits[0].second, 1.0f, 1e-5);  // inner product of a unit vector with itself
    EXPECT_GE(hits[0].second, hits[1].second);
    EXPECT_GE(hits[1].second, hits[2].second);
    EXPECT_NEAR(hits[1].second, dot(points[size_t(i)], points[size_t(hits[1].first - 1000)].data()), 1e-5);
  }
  EXPECT_EQ(index.search(query.data(), 1000).size(), 300u);  // k above the size: all of them
  EXPECT_TRUE(index.search(query.data(), 0).empty());
  EXPECT_EQ(index.search(query.data(), 10, 1).size(), 10u);  // ef below k is raised to k

  // Exactly the brute-force order on a set this small.
  std::vector<std::pair<float, int64_t>> exact;
  for (int i = 0; i < 300; ++i) exact.push_back({dot(query, points[size_t(i)].data()), 1000 + i});
  std::sort(exact.rbegin(), exact.rend());
  const auto hits = index.search(query.data(), 10, 300);
  for (size_t i = 0; i < hits.size(); ++i) EXPECT_EQ(hits[i].first, exact[i].second) << i;

  EXPECT_EQ(error_kind_of([] { VectorIndex bad(0); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(error_kind_of([] { VectorIndex bad(8, {1, 200, 96}); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(error_kind_of([&] { index.add(-1, query.data()); }), ErrorKind::kInvalidArgument);
}

TEST(VectorIndex, RemoveReAddAndReplace) {
  std::mt19937 rng(2);
  constexpr int kDim = 16;
  VectorIndex index(kDim);
  std::vector<std::vector<float>> points;
  for (int i = 0; i < 2000; ++i) {  // past the initial capacity: the graph grows
    points.push_back(random_unit(rng, kDim));
    index.add(i + 1, points.back().data());
  }
  EXPECT_EQ(index.size(), 2000u);

  index.remove(5);
  index.remove(5);     // twice: no-op (hnswlib would throw)
  index.remove(9999);  // absent: no-op
  EXPECT_FALSE(index.contains(5));
  EXPECT_TRUE(index.contains(6));
  EXPECT_EQ(index.size(), 1999u);
  EXPECT_EQ(index.deleted_count(), 1u);
  for (const auto& [id, score] : index.search(points[4].data(), 20)) EXPECT_NE(id, 5);

  index.add(5, points[4].data());  // back again
  EXPECT_TRUE(index.contains(5));
  EXPECT_EQ(index.size(), 2000u);
  EXPECT_EQ(index.deleted_count(), 0u);
  EXPECT_EQ(index.search(points[4].data(), 1)[0].first, 5);

  // Adding an existing id replaces its vector.
  index.add(7, points[100].data());
  EXPECT_EQ(index.size(), 2000u);
  auto hits = index.search(points[100].data(), 2);
  EXPECT_EQ(std::set<int64_t>({hits[0].first, hits[1].first}), (std::set<int64_t>{7, 101}));
  EXPECT_NE(index.search(points[6].data(), 1)[0].first, 7);

  // With most of the graph deleted, a search still returns k live ids when there are k.
  for (int i = 1; i <= 1990; ++i) index.remove(i);
  EXPECT_EQ(index.size(), 10u);
  EXPECT_EQ(index.deleted_count(), 1990u);
  hits = index.search(points[0].data(), 10);
  ASSERT_EQ(hits.size(), 10u);
  std::set<int64_t> ids;
  for (const auto& [id, score] : hits) ids.insert(id);
  EXPECT_EQ(*ids.begin(), 1991);
  EXPECT_EQ(*ids.rbegin(), 2000);
  for (int i = 1991; i <= 2000; ++i) index.remove(i);
  EXPECT_TRUE(index.search(points[0].data(), 10).empty());
}

// recall@10 against brute force on 20k clustered 512-dimensional unit vectors, with the default parameters.
// Many vectors inserted by several threads: every one is there, each is its own nearest neighbour, and ids
// already present are replaced, not duplicated.
TEST(VectorIndex, AddManyFromSeveralThreads) {
  std::mt19937 rng(11);
  const int dim = 64;
  std::vector<std::vector<float>> data;
  for (int i = 0; i < 3000; ++i) data.push_back(random_unit(rng, dim));
  VectorIndex index(dim);
  index.add(5, data[0].data());
  std::vector<std::pair<int64_t, const float*>> batch;
  for (int i = 0; i < 3000; ++i) batch.emplace_back(i + 1, data[size_t(i)].data());
  index.add_many(batch, 4);
  EXPECT_EQ(index.size(), 3000u);
  for (int i = 0; i < 3000; i += 97) {
    ASSERT_TRUE(index.contains(i + 1));
    const auto hits = index.search(data[size_t(i)].data(), 1);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].first, i + 1);
  }
  std::vector<std::pair<int64_t, const float*>> bad = {{-1, data[0].data()}};
  EXPECT_THROW(index.add_many(bad, 2), Error);
}

TEST(VectorIndex, RecallOnClusteredVectors) {
  constexpr int kDim = 512, kCount = 20000, kQueries = 200, kK = 10;
  std::mt19937 rng(3);
  const auto data = embedding_like(rng, kCount + kQueries, kDim, 20, 10);
  const VectorIndexOptions options;  // the defaults, as the indexer uses them
  VectorIndex index(kDim, options);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i) index.add(i + 1, data[size_t(i)].data());
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  double found = 0, search_s = 0;
  for (int q = 0; q < kQueries; ++q) {
    const auto& query = data[size_t(kCount + q)];
    std::vector<std::pair<float, int64_t>> exact;
    exact.reserve(kCount);
    for (int i = 0; i < kCount; ++i) exact.push_back({dot(query, data[size_t(i)].data()), i + 1});
    std::partial_sort(exact.begin(), exact.begin() + kK, exact.end(), std::greater<>());
    t0 = std::chrono::steady_clock::now();
    const auto hits = index.search(query.data(), kK);
    search_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(hits.size(), size_t(kK));
    std::set<int64_t> truth;
    for (int i = 0; i < kK; ++i) truth.insert(exact[size_t(i)].second);
    for (const auto& [id, score] : hits) found += truth.count(id);
  }
  const double recall = found / (kQueries * kK);
  std::printf("[ recall ] M=%d ef_construction=%d ef_search=%d: recall@10 %.4f over %d queries; "
              "%d x %d-d built in %.2f s, %.3f ms per search\n",
              options.m, options.ef_construction, options.ef_search, recall, kQueries, kCount, kDim, build_s,
              1000 * search_s / kQueries);
  EXPECT_GE(recall, 0.98);
}

TEST(VectorIndex, SaveLoadRoundTrip) {
  TempDir dir;
  const std::string path = dir / "vectors.hnsw";
  std::mt19937 rng(4);
  constexpr int kDim = 24;
  VectorIndex index(kDim, {8, 64, 32});
  std::vector<std::vector<float>> points;
  for (int i = 0; i < 1500; ++i) {
    points.push_back(random_unit(rng, kDim));
    index.add(10 * i + 3, points.back().data());
  }
  index.remove(13);
  index.remove(23);
  index.set_sync_point({12345, 678});
  index.save(path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(path + ".payload.tmp"));

  const auto loaded = VectorIndex::load(path, kDim, {8, 64, 32});
  EXPECT_EQ(loaded->dim(), kDim);
  EXPECT_EQ(loaded->size(), index.size());
  EXPECT_EQ(loaded->deleted_count(), 2u);
  EXPECT_EQ(loaded->sync_point().max_chunk_id, 12345);
  EXPECT_EQ(loaded->sync_point().deletion_seq, 678);
  EXPECT_FALSE(loaded->contains(13));
  EXPECT_TRUE(loaded->contains(33));
  for (int q = 0; q < 50; ++q) {
    const auto query = random_unit(rng, kDim);
    EXPECT_EQ(loaded->search(query.data(), 10), index.search(query.data(), 10)) << q;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename(), "vectors.hnsw");  // no temporary left beside it

  // The loaded index grows and saves again (over the old file).
  const auto extra = random_unit(rng, kDim);
  loaded->add(99999, extra.data());
  EXPECT_EQ(loaded->search(extra.data(), 1)[0].first, 99999);
  loaded->save(path);
  EXPECT_TRUE(VectorIndex::load(path, kDim)->contains(99999));

  // An empty index round-trips too.
  VectorIndex empty(kDim);
  empty.save(dir / "empty.hnsw");
  const auto empty_loaded = VectorIndex::load(dir / "empty.hnsw", kDim);
  EXPECT_EQ(empty_loaded->size(), 0u);
  EXPECT_TRUE(empty_loaded->search(extra.data(), 3).empty());
  empty_loaded->add(1, extra.data());
  EXPECT_EQ(empty_loaded->search(extra.data(), 3).size(), 1u);
}

TEST(VectorIndex, DamagedFilesAreCorruptDataNotCrashes) {
  TempDir dir;
  const std::string path = dir / "vectors.hnsw";
  EXPECT_EQ(error_kind_of([&] { VectorIndex::load(path, 8); }), ErrorKind::kNotFound);

  std::mt19937 rng(5);
  constexpr int kDim = 8;
  VectorIndex index(kDim, {6, 40, 20});
  for (int i = 0; i < 300; ++i) index.add(i, random_unit(rng, kDim).data());
  index.save(path);
  std::string good;
  {
    std::ifstream in(path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(good.size(), 1000u);
  const auto write = [&](const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; };

  EXPECT_EQ(error_kind_of([&] { VectorIndex::load(path, 16); }), ErrorKind::kCorruptData);  // another dimension
  for (size_t length : {size_t(0), size_t(10), size_t(80), size_t(100), good.size() / 2, good.size() - 1}) {
    write(good.substr(0, length));
    EXPECT_EQ(error_kind_of([&] { VectorIndex::load(path, kDim); }), ErrorKind::kCorruptData) << length;
  }
  write(good + "extra");
  EXPECT_EQ(error_kind_of([&] { VectorIndex::load(path, kDim); }), ErrorKind::kCorruptData);
  // A flipped bit anywhere — magic, sync point, checksum, graph — is caught.
  for (size_t at : {size_t(0), size_t(9), size_t(30), size_t(50), size_t(90), size_t(200), good.size() / 2,
                    good.size() - 1}) {
    std::string bad = good;
    bad[at] = char(bad[at] ^ 0x10);
    write(bad);
    EXPECT_EQ(error_kind_of([&] { VectorIndex::load(path, kDim); }), ErrorKind::kCorruptData) << at;
  }
  write(std::string(4096, '\0'));
  EXPECT_EQ(error_kind_of([&] { VectorIndex::load(path, kDim); }), ErrorKind::kCorruptData);
  write(good);
  EXPECT_EQ(VectorIndex::load(path, kDim)->size(), 300u);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename(), "vectors.hnsw");  // failed loads leave no temporary behind
}

// Searches from several threads while another adds and removes: no crash, no torn result, and the writer is not
// starved by a steady stream of searches. (Clean under ThreadSanitizer with detect_deadlocks=0: hnswlib's own
// per-node locks are taken in varying orders, which cannot deadlock here since adds are serialized.)
TEST(VectorIndex, ConcurrentSearchesWhileAdding) {
  constexpr int kDim = 32;
  std::mt19937 rng(6);
  VectorIndex index(kDim);
  std::vector<std::vector<float>> points;
  for (int i = 0; i < 3000; ++i) points.push_back(random_unit(rng, kDim));
  for (int i = 0; i < 500; ++i) index.add(i, points[size_t(i)].data());

  std::atomic<bool> done{false};
  std::atomic<int> searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&, t] {
      std::mt19937 local(100 + t);
      while (!done.load()) {
        const auto& q = points[local() % points.size()];
        const auto hits = index.search(q.data(), 5);
        EXPECT_LE(hits.size(), 5u);
        for (size_t i = 1; i < hits.size(); ++i) EXPECT_GE(hits[i - 1].second, hits[i].second);
        (void)index.contains(int64_t(local() % 3000));
        ++searches;
      }
    });
  for (int i = 500; i < 3000; ++i) {
    index.add(i, points[size_t(i)].data());
    if (i % 7 == 0) index.remove(i - 300);
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(searches.load(), 0);
  EXPECT_EQ(index.size() + index.deleted_count(), 3000u);
}

}  // namespace
}  // namespace hearth::context
