// SPDX-License-Identifier: GPL-2.0
/*
 * The symbol dmabuf_exporter exports to importers: dmabuf_ic_attach(), defined in Rust
 * (offered_attach.rs). Rust modules cannot export symbols themselves, so this file does it.
 * The namespace keeps it out of the way of anything else: an importer says it imports
 * "DMABUF_IC".
 */
#include <linux/dma-buf.h>
#include <linux/export.h>

struct dmabuf_ic_offer_list;

struct dma_buf_attachment *dmabuf_ic_attach(struct dma_buf *dmabuf,
					    const struct dmabuf_ic_offer_list *list,
					    const struct dma_buf_attach_ops *importer_ops,
					    void *importer_priv);
EXPORT_SYMBOL_NS_GPL(dmabuf_ic_attach, "DMABUF_IC");
