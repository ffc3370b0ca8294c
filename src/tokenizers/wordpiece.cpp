#include "tokenizers/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>

#include "core/error.h"
#include "core/utf8.h"
#include "formats/metadata.h"
#include "tokenizers/vocab.h"

namespace hearth {

namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // U+2581
// Hugging Face's max_input_chars_per_word: longer words are [UNK] without trying.
constexpr size_t kMaxWordChars = 100;

// Unicode White_Space, which is what llama.cpp splits on (Hugging Face: Zs + \t\n\r + U+2028/U+2029; they
// differ only on \v \f U+0085, which Hugging Face drops as control characters instead).
bool is_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// BERT's "Chinese character" blocks (CJK ideographs only, not kana or hangul). The 0x2B920 lower bound of
// the sixth range is Hugging Face's (and llama.cpp's) value, kept for identical output.
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_control(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CS ||
         cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CN;
}

bool is_punctuation(char32_t c, utf8proc_category_t cat) {
  // All of ASCII's non-alphanumeric printable characters split, symbols ($ + < = > ^ ` | ~) included;
  // outside ASCII only the P* categories do (so "€19" stays one word).
  if (c < 0x7F && c > 0x20 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
    return true;
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

class WordPieceTokenizer final : public VocabTokenizer {
 public:
  WordPieceTokenizer(Vocab vocab, bool lowercase, const std::string& source)
      : VocabTokenizer(std::move(vocab)), lowercase_(lowercase) {
    if (special_.unk < 0)
      fail(ErrorKind::kCorruptData, "{}: WordPiece vocabulary has no unknown token ([UNK])", source);
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    const int32_t cls = special_.cls >= 0 ? special_.cls : special_.bos;
    if (add_special && cls >= 0) out.push_back(cls);
    for (const auto& frag : vocab_.split_special(text, parse_special)) {
      if (frag.token >= 0)
        out.push_back(frag.token);
      else
        encode_text(frag.text, out);
    }
    if (add_special && special_.sep >= 0) out.push_back(special_.sep);
    return out;
  }

  std::string token_to_piece(int32_t id, bool render_special) const override {
    check_id(id);
    const uint16_t a = vocab_.attr(id);
    if (a & (kAttrControl | kAttrUnknown)) return render_special ? vocab_.text(id) : std::string();
    if (a & kAttrUserDefined) return vocab_.text(id);
    if (a & kAttrNormal) return unescape_spaces(vocab_.text(id));  // "▁word" → " word"
    return {};
  }

  std::string decode(const std::vector<int32_t>& ids, bool render_special) const override {
    std::string text;
    for (int32_t id : ids) text += token_to_piece(id, render_special);
    if (!text.empty() && text[0] == ' ') text.erase(0, 1);
    return clean_up_spaces(text);
  }

  std::string type_name() const override { return "wordpiece"; }

 private:
  void encode_text(std::string_view text, std::vector<int32_t>& out) const {
    std::string word;
    size_t word_chars = 0;
    auto finish_word = [&] {
      if (!word.empty()) encode_word(word, word_chars, out);
      word.clear();
      word_chars = 0;
    };
    auto add_char = [&](char32_t c) {
      if (is_whitespace(c)) return finish_word();
      const auto cat = utf8proc_category(int32_t(c));
      if (c == 0 || c == 0xFFFD || is_control(cat)) return;
      if (lowercase_ && cat == UTF8PROC_CATEGORY_MN) return;  // accent stripping after NFD
      const char32_t lc = lowercase_ ? char32_t(utf8proc_tolower(int32_t(c))) : c;
      if (is_punctuation(c, cat) || is_cjk(c)) {
        finish_word();
        utf8_append(word, lc);
        word_chars = 1;
        return finish_word();
      }
      utf8_append(word, lc);
      ++word_chars;
    };
    if (!lowercase_) {
      for (char32_t c : utf8_decode(text)) add_char(c);
      finish_word();
      return;
    }
    std::vector<char32_t> nfd;
    for (char32_t c : utf8_decode(text)) {
      utf8proc_int32_t decomposed[32];
      const utf8proc_ssize_t n = utf8proc_decompose_char(int32_t(c), decomposed, 32, UTF8PROC_DECOMPOSE, nullptr);
      if (n < 0 || n > 32) {
        nfd.push_back(c);
        continue;
      }
      nfd.insert(nfd.end(), decomposed, decomposed + n);
    }
    // NFD's last step, which decomposing one character at a time skips: within a run of combining marks,
    // the marks are stably ordered by combining class (spacing marks with a class survive accent stripping).
    auto combining_class = [](char32_t c) { return utf8proc_get_property(int32_t(c))->combining_class; };
    for (size_t i = 0; i < nfd.size();) {
      size_t j = i;
      while (j < nfd.size() && combining_class(nfd[j]) != 0) ++j;
      if (j > i + 1)
        std::stable_sort(nfd.begin() + long(i), nfd.begin() + long(j),
                         [&](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
      i = j > i ? j : i + 1;
    }
    for (char32_t c : nfd) add_char(c);
    finish_word();
  }

  // Greedy longest-match-first over the word with its start mark; all or nothing.
  void encode_word(const std::string& word, size_t chars, std::vector<int32_t>& out) const {
    if (chars > kMaxWordChars) {
      out.push_back(special_.unk);
      return;
    }
    std::string marked;
    marked.reserve(kWordStart.size() + word.size());
    marked += kWordStart;
    marked += word;
    const size_t start = out.size();
    const std::string_view w(marked);
    for (size_t i = 0; i < w.size();) {
      int32_t id = -1;
      size_t j = std::min(w.size(), i + vocab_.max_token_bytes());
      for (; j > i; --j)
        if ((id = vocab_.find(w.substr(i, j - i))) >= 0) break;
      if (id < 0) {
        out.resize(start);
        out.push_back(special_.unk);
        return;
      }
      out.push_back(id);
      i = j;
    }
  }

  bool lowercase_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_wordpiece_tokenizer(const Metadata& md, const std::string& source) {
  // llama.cpp's defaults for BERT vocabularies, used where the file names none.
  SpecialTokens defaults;
  defaults.bos = 101;
  defaults.cls = 101;
  defaults.unk = 100;
  defaults.sep = 102;
  defaults.pad = 0;
  defaults.mask = 103;
  defaults.add_bos = true;
  Vocab vocab = Vocab::from_metadata(md, source, defaults);
  const bool lowercase = md.find_bool(kWordPieceLowercaseKey).value_or(true);
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), lowercase, source);
}

std::vector<std::string> wordpiece_vocab_from_bert(const std::vector<std::string>& entries) {
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (const std::string& e : entries) {
    if (e.size() >= 2 && e.front() == '[' && e.back() == ']')
      out.push_back(e);
    else if (e.rfind("##", 0) == 0)
      out.push_back(e.substr(2));
    else
      out.push_back(std::string(kWordStart) + e);
  }
  return out;
}

}  // namespace hearth
