// Decoder-only language models (llama / qwen2 / qwen3 families): the interface the generation runtime and the
// server are written against, and the per-sequence state (KV cache) they keep between calls.
//
// One loaded DecoderModel is immutable and may serve many sequences at once: everything that changes while
// generating lives in a DecoderCache (paged, with shared prefixes). Keys and values are stored as F16 by default,
// like llama.cpp's default KV cache (`-ctk f16 -ctv f16`); parity with llama.cpp's logits depends on that
// rounding (see docs/decoder.md). Q8_0 storage halves the memory at a stated cost in parity (docs/decoder.md).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/backend.h"
#include "formats/weights.h"

namespace hearth {

struct LoraStack;  // models/lora.h

struct DecoderHParams {
  std::string arch;  // "llama", "qwen2", "qwen3"
  int n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int n_ctx_train = 0;  // <arch>.context_length
  float rms_eps = 1e-5f;
  RopeParams rope;  // n_head / head_dim / n_rot / base / scaling; n_head is set per use (q or k)
  bool qkv_bias = false;     // qwen2
  bool qk_norm = false;      // qwen3: RMSNorm of each head of q and k before rope
  bool tied_output = false;  // no output.weight: the token embedding doubles as the output head

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// How a DecoderCache is laid out.
struct CacheOptions {
  int n_ctx = 2048;         // most positions one sequence may hold
  int n_seq = 1;            // sequence ids 0 .. n_seq-1
  int64_t capacity = 0;     // positions of KV memory shared by all sequences (0: n_ctx * n_seq)
  int block_size = 32;      // positions per block: the unit of allocation and of prefix sharing
  DType type = DType::F16;  // key/value storage: F16 (llama.cpp's default) or Q8_0 (half the memory)
};

// "f16" / "q8_0" (as llama.cpp's --cache-type-k names them) to the storage type; Error for anything else.
DType parse_cache_type(const std::string& name);

// KV cache for many sequences, paged (as vLLM's PagedAttention): memory is a pool of fixed-size blocks, and a
// sequence holds a list of blocks (its block table), so how many sequences are live and how long each is are
// decided as they run, not at creation. Blocks that are full are also entered, under a hash of every token up to
// their end, into a prefix table: a new sequence whose tokens start the same way (a system prompt, a chat's
// earlier turns) attaches those blocks instead of computing them again (attach_prefix). A block is shared by
// reference count and copied before a sequence writes into it while another still reads it. Blocks no sequence
// holds stay cached and are evicted least recently used first when memory runs short.
//
// Not thread-safe: one cache is driven by one thread at a time (the engine's scheduler thread).
class DecoderCache {
 public:
  DecoderCache(Backend& backend, const DecoderHParams& hp, const CacheOptions& options);
  ~DecoderCache();

  int n_ctx() const { return options_.n_ctx; }
  int n_seq() const { return options_.n_seq; }
  int block_size() const { return options_.block_size; }
  DType type() const { return options_.type; }
  int64_t n_blocks() const { return int64_t(blocks_.size()); }
  // Bytes of key/value storage the cache holds (every block of every layer, allocated or not).
  int64_t bytes() const;
  // Blocks a new allocation can take: free ones plus cached ones no sequence holds.
  int64_t available_blocks() const { return int64_t(free_.size() + lru_.size()); }
  // Blocks writing `count` positions at `start` of sequence `seq` would allocate (new blocks and copies).
  int64_t blocks_needed(int seq, int start, int count) const;

  // Positions stored for sequence `seq` (the next token goes at this position).
  int length(int seq) const;
  // The tokens at those positions.
  std::span<const int32_t> tokens(int seq) const;
  // Forgets positions >= n of sequence `seq` (n <= length): its blocks past n go back to the pool (full ones stay
  // cached for reuse).
  void truncate(int seq, int n);
  void clear(int seq) { truncate(seq, 0); }
  // For an empty sequence: attaches the cached blocks that hold the longest whole-block prefix of `tokens`,
  // leaving at least one token to run (its logits are what the caller needs). Returns the positions attached.
  // `adapter_key` (LoraStack::key, 0 for the base model) seeds the prefix hashes: blocks computed with other
  // adapters are never attached, and forward refuses to extend a sequence with other adapters than its own.
  int attach_prefix(int seq, std::span<const int32_t> tokens, uint64_t adapter_key = 0);
  // The adapters sequence `seq`'s keys and values were computed with (0: none).
  uint64_t adapter_key(int seq) const;

  int n_layer() const { return int(k_.size()); }
  int64_t kv_dim() const { return kv_dim_; }

  // ---- for the model and the sequence file ----
  // Makes positions [start, start + count) of `seq` writable: forgets positions >= start, allocates blocks,
  // copies shared ones. Error kResourceExhausted when the pool has no room (the sequence is then truncated to
  // start, and nothing else changed).
  void reserve(int seq, int start, int count);
  // Records that positions [start, start + tokens.size()) of `seq` now hold `tokens` (their K/V are written);
  // blocks that became full enter the prefix table.
  void commit(int seq, int start, std::span<const int32_t> tokens);
  // Binds `seq` to the adapters a forward runs it with: Error when it holds positions before `start` computed with
  // other adapters (their keys and values would be wrong for these).
  void bind_adapters(int seq, int start, uint64_t adapter_key);
  // The block table of `seq`: position p lives in row (p % block_size) of block table[p / block_size].
  std::span<const int32_t> block_table(int seq) const;
  // [n_blocks * block_size, kv_dim] of type(): block b owns rows b * block_size ...
  Act k(int layer) const { return *k_[size_t(layer)]; }
  Act v(int layer) const { return *v_[size_t(layer)]; }
  // Rows of positions [start, start + count) of `seq` in k(layer) / v(layer), as runs of consecutive rows.
  struct RowRun {
    int64_t position, row, count;
  };
  std::vector<RowRun> row_runs(int seq, int start, int count) const;
  Workspace& workspace() { return *workspace_; }
  Backend& backend() { return backend_; }

 private:
  struct Block {
    int refs = 0;
    bool cached = false;           // entered in prefix_ under `key`
    uint64_t key = 0;              // hash of every token of the sequence up to this block's end
    std::vector<int32_t> tokens;   // this block's tokens (checked on a prefix-table hit)
    uint64_t last_use = 0;
  };
  struct Seq {
    std::vector<int32_t> blocks, tokens;
    std::vector<uint64_t> keys;  // the key of each full block
    uint64_t adapter_key = 0;    // seeds the first block's key
  };
  Seq& seq_state(int seq);
  const Seq& seq_state(int seq) const;
  int take_block();          // refs = 1; evicts the least recently used cached block if none is free
  void drop_block(int block);
  void copy_rows(int from_block, int to_block, int rows);

  Backend& backend_;
  CacheOptions options_;
  int64_t kv_dim_ = 0;
  std::vector<Block> blocks_;
  std::vector<Seq> seqs_;
  std::vector<int> free_;                          // never-cached blocks no sequence holds
  std::set<std::pair<uint64_t, int>> lru_;         // cached blocks no sequence holds, by last use
  std::unordered_map<uint64_t, int> prefix_;       // key -> cached block
  uint64_t clock_ = 0;
  std::vector<std::shared_ptr<Act>> k_, v_;
  std::unique_ptr<Workspace> workspace_;
};

// One sequence's part of a forward batch: `tokens` go at positions start, start+1, ... of sequence `seq`.
// start must be <= the cache's length for seq; anything stored at positions >= start is replaced.
struct DecoderInput {
  int seq = 0;
  std::span<const int32_t> tokens;
  int start = 0;
  bool all_logits = false;  // logits for every token (teacher forcing) instead of only the last one
  const LoraStack* lora = nullptr;  // run-time LoRA adapters for this sequence (models/lora.h); null: none
};

class DecoderModel {
 public:
  virtual ~DecoderModel() = default;
  virtual const DecoderHParams& hparams() const = 0;
  virtual Backend& backend() const = 0;

  std::unique_ptr<DecoderCache> new_cache(const CacheOptions& options) const {
    return std::make_unique<DecoderCache>(backend(), hparams(), options);
  }
  std::unique_ptr<DecoderCache> new_cache(int n_ctx, int n_seq = 1) const {
    CacheOptions o;
    o.n_ctx = n_ctx;
    o.n_seq = n_seq;
    return new_cache(o);
  }

  // Runs the inputs (distinct sequences) as one batch, appends their K/V to the cache, and returns the
  // logits of the rows asked for, in input order (each input: all its tokens or only its last), as
  // rows x n_vocab floats. Error if a sequence would exceed the cache's n_ctx or a token id is out of range.
  virtual std::vector<float> forward(std::span<const DecoderInput> inputs, DecoderCache& cache) const = 0;
  // The same pass without the output head: the final-norm hidden states of the rows asked for (rows x n_embd),
  // what decoder embedders pool (models/decoder_embedding.h). As batch-invariant as the logits. The default
  // throws kUnsupported.
  virtual std::vector<float> hidden_states(std::span<const DecoderInput> inputs, DecoderCache& cache) const;
};

// Saving one sequence's cache to a file and back, so that a conversation survives a restart without running
// its tokens again. The file (format version 1) holds the tokens, their keys and values (as stored: F16 or Q8_0), the
// model's fingerprint (Weights::fingerprint) and the cache's shape, and a checksum. It is written to a temporary
// file and renamed over `path`, so a crash mid-write leaves the old file whole. `note` is opaque text saved with
// it (e.g. a chat's messages).
void save_sequence(DecoderCache& cache, int seq, std::span<const int32_t> tokens, uint64_t model_fingerprint,
                   const std::string& note, const std::string& path);
struct SavedSequence {
  std::vector<int32_t> tokens;  // what the slot now holds, positions 0..
  std::string note;
};
// Fills slot `seq` from the file. Error kNotFound (no file), kCorruptData (damaged, truncated, checksum, another
// format version), kInvalidArgument (saved for another model, cache shape or storage type), kResourceExhausted
// (longer than the context, or no room in the cache). Everything is checked before the slot is touched: on error it is unchanged.
// `adapter_key`: the LoRA adapters the saved keys and values were computed with (LoraStack::key; 0 for none), which
// the slot is bound to (and which the model fingerprint should include, so a file never loads under other adapters).
SavedSequence load_sequence(DecoderCache& cache, int seq, uint64_t model_fingerprint, const std::string& path,
                            uint64_t adapter_key = 0);

struct DecoderLoadOptions {
  // Nothing yet beyond the backend; kept so that callers need not change when options appear.
};

// Builds the decoder for weights.architecture() ("llama", "qwen2", "qwen3"); Error naming an unknown
// architecture or the first missing / misshapen tensor or inconsistent hyper-parameter. `weights` and
// `backend` must outlive the model.
std::unique_ptr<DecoderModel> load_decoder(const Weights& weights, Backend& backend,
                                           const DecoderLoadOptions& options = {});
// The architectures load_decoder runs.
const std::vector<std::string>& decoder_architectures();

}  // namespace hearth
