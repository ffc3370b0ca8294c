#include "tokenizers/vocab.h"

#include <algorithm>
#include <cctype>
#include <climits>

#include "core/error.h"
#include "formats/metadata.h"

namespace hearth {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

uint16_t attr_from_type(int64_t type) {
  switch (type) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return 0;  // undefined: never rendered, like llama.cpp
  }
}

// Texts llama.cpp treats as end-of-turn / end-of-generation whatever the ids say (its issue #9606):
// chat models mark the turn end with these and forget to declare them.
constexpr std::string_view kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<EOT>", "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"};
constexpr std::string_view kEogTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<|eom_id|>", "<EOT>"};

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

}  // namespace

bool is_end_of_generation_text(std::string_view text) {
  return std::find(std::begin(kEogTexts), std::end(kEogTexts), text) != std::end(kEogTexts);
}

Vocab Vocab::from_metadata(const Metadata& md, const std::string& source, const SpecialTokens& defaults) {
  Vocab v;
  const std::vector<std::string>* tokens = md.find_strings("tokenizer.ggml.tokens");
  if (tokens == nullptr) fail(ErrorKind::kCorruptData, "{}: missing metadata key 'tokenizer.ggml.tokens'", source);
  if (tokens->empty()) fail(ErrorKind::kCorruptData, "{}: 'tokenizer.ggml.tokens' is empty", source);
  if (tokens->size() > size_t(INT32_MAX))
    fail(ErrorKind::kCorruptData, "{}: 'tokenizer.ggml.tokens' has too many entries", source);
  v.tokens_ = *tokens;
  const size_t n = v.tokens_.size();

  if (auto scores = md.find_floats("tokenizer.ggml.scores")) {
    if (scores->size() != n)
      fail(ErrorKind::kCorruptData, "{}: 'tokenizer.ggml.scores' has {} entries but there are {} tokens", source,
           scores->size(), n);
    v.scores_.assign(scores->begin(), scores->end());
  }
  v.attrs_.assign(n, kAttrNormal);
  if (auto types = md.find_ints("tokenizer.ggml.token_type")) {
    if (types->size() != n)
      fail(ErrorKind::kCorruptData, "{}: 'tokenizer.ggml.token_type' has {} entries but there are {} tokens", source,
           types->size(), n);
    for (size_t i = 0; i < n; ++i) v.attrs_[i] = attr_from_type((*types)[i]);
  }

  size_t slots = 16;
  while (slots < 2 * n) slots *= 2;
  v.index_.assign(slots, Slot{});
  for (size_t i = 0; i < n; ++i) {
    v.index_insert(int32_t(i));
    v.max_token_bytes_ = std::max(v.max_token_bytes_, v.tokens_[i].size());
  }
  for (int b = 0; b < 256; ++b) v.byte_tokens_[b] = v.find(fmt::format("<0x{:02X}>", b));

  // Special ids: an absent or out-of-range key keeps the default (llama.cpp warns and does the same).
  SpecialTokens& s = v.special_;
  s = defaults;
  auto read_id = [&](const char* key, int32_t& id) {
    if (auto value = md.find_int(key); value && *value >= 0 && *value < int64_t(n)) id = int32_t(*value);
    if (id >= int32_t(n)) id = -1;
  };
  read_id("tokenizer.ggml.bos_token_id", s.bos);
  read_id("tokenizer.ggml.eos_token_id", s.eos);
  read_id("tokenizer.ggml.eot_token_id", s.eot);
  read_id("tokenizer.ggml.unknown_token_id", s.unk);
  read_id("tokenizer.ggml.seperator_token_id", s.sep);
  read_id("tokenizer.ggml.padding_token_id", s.pad);
  read_id("tokenizer.ggml.cls_token_id", s.cls);
  read_id("tokenizer.ggml.mask_token_id", s.mask);
  if (auto b = md.find_bool("tokenizer.ggml.add_bos_token")) s.add_bos = *b;
  if (auto b = md.find_bool("tokenizer.ggml.add_eos_token")) s.add_eos = *b;

  if (s.eot < 0) {
    for (std::string_view t : kEotTexts)
      if (int32_t id = v.find(t); id >= 0 && (s.eot < 0 || id < s.eot)) s.eot = id;
  }
  for (std::string_view t : kEogTexts) {
    if (int32_t id = v.find(t); id >= 0) {
      v.eog_.push_back(id);
      // Generation must stop on it and it must never print as text, so it becomes a control token.
      v.attrs_[size_t(id)] = (v.attrs_[size_t(id)] & ~(kAttrNormal | kAttrUserDefined)) | kAttrControl;
    }
  }
  for (int32_t id : {s.eos, s.eot})
    if (id >= 0) v.eog_.push_back(id);
  std::sort(v.eog_.begin(), v.eog_.end());
  v.eog_.erase(std::unique(v.eog_.begin(), v.eog_.end()), v.eog_.end());

  for (size_t i = 0; i < n; ++i)
    if ((v.attrs_[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) && !v.tokens_[i].empty())
      v.special_cache_.push_back(int32_t(i));
  std::stable_sort(v.special_cache_.begin(), v.special_cache_.end(),
                   [&](int32_t a, int32_t b) { return v.tokens_[size_t(a)].size() > v.tokens_[size_t(b)].size(); });

  // Phi-3's special tokens eat the whitespace after them (llama.cpp keys this on the model name; the
  // Hugging Face tokenizer.json of Phi-3 marks them rstrip).
  std::string name = md.find_string("general.name").value_or("");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : v.special_cache_) v.attrs_[size_t(id)] |= kAttrRstrip;
    if (int32_t id = v.find("</s>"); id >= 0) v.attrs_[size_t(id)] |= kAttrRstrip;
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"})
      if (int32_t id = v.find(t); id >= 0) v.attrs_[size_t(id)] &= uint16_t(~kAttrRstrip);
  }
  return v;
}

void Vocab::index_insert(int32_t id) {
  const std::string& text = tokens_[size_t(id)];
  const size_t h = std::hash<std::string_view>{}(text);
  const size_t mask = index_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = index_[i];
    if (s.id < 0 || (s.hash == uint32_t(h) && tokens_[size_t(s.id)] == text)) {
      s = {uint32_t(h), id};  // a duplicated text maps to its last id, as in llama.cpp
      return;
    }
  }
}

int32_t Vocab::find(std::string_view text) const {
  const size_t h = std::hash<std::string_view>{}(text);
  const size_t mask = index_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = index_[i];
    if (s.id < 0) return -1;
    if (s.hash == uint32_t(h) && tokens_[size_t(s.id)] == text) return s.id;
  }
}

bool Vocab::is_eog(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

std::vector<Vocab::Fragment> Vocab::split_special(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, text});
  std::vector<Fragment> next;
  for (int32_t id : special_cache_) {
    const uint16_t a = attrs_[size_t(id)];
    if (!parse_special && (a & (kAttrControl | kAttrUnknown))) continue;
    const std::string& tok = tokens_[size_t(id)];
    bool any = false;
    for (const Fragment& f : frags)
      if (f.token < 0 && f.text.find(tok) != std::string_view::npos) any = true;
    if (!any) continue;
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t pos; !rest.empty() && (pos = rest.find(tok)) != std::string_view::npos;) {
        std::string_view left = rest.substr(0, pos);
        if (a & kAttrLstrip)
          while (!left.empty() && is_space(left.back())) left.remove_suffix(1);
        if (!left.empty()) next.push_back({-1, left});
        next.push_back({id, {}});
        rest = rest.substr(pos + tok.size());
        if (a & kAttrRstrip)
          while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
      }
      if (!rest.empty()) next.push_back({-1, rest});
    }
    frags.swap(next);
  }
  return frags;
}

VocabTokenizer::VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) { special_ = vocab_.special(); }

void VocabTokenizer::check_id(int32_t id) const {
  if (!vocab_.valid(id)) fail("token id {} is outside the vocabulary (0..{})", id, vocab_.size() - 1);
}

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ')
      out += kSpaceMark;
    else
      out += c;
  }
  return out;
}

std::string unescape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out += ' ';
      i += kSpaceMark.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string clean_up_spaces(std::string_view text) {
  if (text.size() < 2) return std::string(text);
  std::string t(text), o;
  o.reserve(t.size());
  // Pass 1: no space before . , ! ?
  o += t[0];
  for (size_t i = 1; i < t.size(); ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) o.pop_back();
    o += x;
  }
  // Pass 2: a lone apostrophe between spaces loses both spaces.
  t.swap(o);
  o.clear();
  if (!t.empty()) o += t[0];
  for (size_t i = 1; i < t.size(); ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < t.size() && t[i - 1] == ' ' && t[i + 1] == ' ') {
      o.pop_back();
      t[++i] = '\0';  // the space after is dropped, and cannot count as a space before the next check
    }
    o += x;
  }
  // Pass 3: contractions 's 'm 're 've attach to the word before ('t 'd 'll keep their space, as llama.cpp).
  t.swap(o);
  o.clear();
  if (!t.empty()) o += t[0];
  for (size_t i = 1; i < t.size(); ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < t.size()) {
      const char x1 = t[i + 1];
      if (x1 == 's' || x1 == 'm') {
        o.pop_back();
      } else if (i + 2 < t.size()) {
        const char x2 = t[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) o.pop_back();
      }
    }
    o += x;
  }
  return o;
}

}  // namespace hearth
