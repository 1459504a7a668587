/* store_source.h — the trace source (rules/source.h) over the embedded store.
 *
 * main wires it into the value cache when --tempo-url is not given; the cache's worker
 * threads call evaluate concurrently. evaluate scans the window in the store (chunked read
 * locks: ingest waits at most one chunk) and feeds matching spans into a metric accumulator;
 * for io_share it collects the trace ids of matching spans, gathers each whole trace from the
 * store's trace index (children may start late or arrive in later requests) and runs
 * ioshare_trace once per trace. Every trace in the window is used: the embedded answer is
 * exact (rule->io_sample and io mode `approximate` only shape Tempo queries). ready is always
 * TA_OK. Stateless beyond the store: any thread. */
#ifndef TA_SERVER_STORE_SOURCE_H
#define TA_SERVER_STORE_SOURCE_H

#include "rules/source.h"
#include "server/store.h"

extern const struct source_ops store_source_ops;

/* A source over st (borrowed: it must outlive every use of the source). */
struct source store_source_make(struct store *st);

#endif
