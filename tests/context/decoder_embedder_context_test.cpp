// The context engine over a decoder embedder (llama-dev.f16 rewritten to declare last-token pooling): it indexes
// and searches like any embedding model, and embeds search queries with the retrieval instruction, documents without.
#include <gtest/gtest.h>

#include "backends/registry.h"
#include "context/chunk_embedder.h"
#include "context/open_index.h"
#include "context_test_util.h"
#include "runtime/decoder_embedding_reference.h"
#include "test_util.h"

namespace hearth::context {
namespace {

TEST(DecoderEmbedderContext, IndexesAndSearchesWithInstructedQueries) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir corpus, data, models;
  const std::string model = models / "qwenish.gguf";
  test::write_llama_dev_variant(model, [](Metadata& m) { m.set_u32("llama.pooling_type", 3); });
  test::write_file(corpus.path() + "/a.md", "# Zebras\n\nHerds of zebras cross the plains every year.\n");
  test::write_file(corpus.path() + "/b.txt", "The quarterly budget meeting moved to Thursday.\n");

  OpenIndexOptions o;
  o.name = "dec";
  o.data_dir = data.path();
  o.create = true;
  o.model = model;
  OpenIndex opened(o);
  ContextIndex& index = opened.index();
  index.add_root(corpus.path(), {});
  index.sync();
  const IndexStatus st = index.status();
  EXPECT_EQ(st.counts.indexed, 2);
  EXPECT_EQ(st.counts.failed, 0);
  ASSERT_TRUE(st.model.has_value());
  EXPECT_EQ(st.model->dim, 128);
  SearchOptions so;
  so.mode = SearchMode::kVector;
  so.k = 2;
  EXPECT_EQ(index.search("zebras", so).hits.size(), 2u);  // random weights: which comes first means nothing

  const ChunkEmbedder& ce = *opened.embedder();
  EmbedderOptions instructed;
  instructed.instruction = "Given a web search query, retrieve relevant passages that answer the query";
  // The same file on the index's backend (the process-wide one, as it is): the same vectors, bit for bit.
  const Embedder embedder(Weights::open(model), *shared_backend("auto", 0));
  EXPECT_EQ(ce.embed_query("zebras", Priority::kInteractive), embedder.embed({"zebras"}, instructed).embeddings[0]);
  EXPECT_EQ(ce.embed({"zebras"}, Priority::kInteractive)[0], embedder.embed({"zebras"}).embeddings[0]);
}

}  // namespace
}  // namespace hearth::context
