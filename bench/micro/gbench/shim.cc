// shim.cc - registers the C benchmark bodies of cases.c with Google Benchmark.
//
//   bench/micro/gbench/sbbench [--benchmark_filter=REGEX] [--benchmark_format=json] ...
//   LD_PRELOAD=/path/to/libjemalloc.so.2 bench/micro/gbench/sbbench ...
//
//   bench/micro/gbench/sbbench --sbbench_iterations=N ...   every case runs exactly N
//        iterations (rounded up to whole batches; per thread), instead of
//        Google Benchmark's timed runs: fixed work, so that counts from
//        perf stat can be compared between allocators (the names then
//        gain /iterations:N after the arguments)
//
// One binary for every allocator: it is not linked with sbmalloc; choose the
// allocator with LD_PRELOAD (bench/micro/gbench-compare does this for each one).
// The allocator the process really got is recorded in the output's context
// as "allocator" (ops_allocator_name()).
//
// Cases (time per iteration = time per operation, see cases.h):
//   BM_malloc_free/size:N          malloc+free pair, N = 16 B .. 16 KiB
//   BM_calloc_free/size:N          calloc+free pair
//   BM_aligned_alloc_free/align:A/size:N   aligned_alloc+free pair
//   BM_realloc_grow                one realloc of a buffer grown 16 B..4 KiB
//   BM_batch_shuffled/n:N          malloc+free of one object of N live ones
//                                  (16..512 B) freed in shuffled order
//   BM_blocks_cycle/window:W       free the oldest of W live blocks, malloc
//                                  the next of 4, 8, .., 64 KiB
//   .../real_time/threads:T        the same in T threads at once (wall time
//                                  divided by the operations of all threads)
//   BM_xthread_free/size:N/...     thread 2k mallocs, thread 2k+1 frees
//                                  (one SPSC ring per pair, up to 1024 objects
//                                  in flight: 32 MiB at 32 KiB); one operation
//                                  is a malloc or a free
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cases.h"

namespace {

// Operations per call into C: keeps Google Benchmark's loop and the call
// out of the per-operation time.
constexpr benchmark::IterationCount kBatch = 64;

void Done(benchmark::State &st)
{
	st.SetItemsProcessed(st.iterations());
}

void BM_malloc_free(benchmark::State &st)
{
	const size_t size = static_cast<size_t>(st.range(0));

	while (st.KeepRunningBatch(kBatch)) {
		benchmark::DoNotOptimize(ops_malloc_free(size, kBatch));
		benchmark::ClobberMemory();
	}
	Done(st);
}

void BM_calloc_free(benchmark::State &st)
{
	const size_t size = static_cast<size_t>(st.range(0));

	while (st.KeepRunningBatch(kBatch)) {
		benchmark::DoNotOptimize(ops_calloc_free(size, kBatch));
		benchmark::ClobberMemory();
	}
	Done(st);
}

void BM_aligned_alloc_free(benchmark::State &st)
{
	const size_t align = static_cast<size_t>(st.range(0));
	const size_t size = static_cast<size_t>(st.range(1));

	while (st.KeepRunningBatch(kBatch)) {
		benchmark::DoNotOptimize(ops_aligned_free(align, size, kBatch));
		benchmark::ClobberMemory();
	}
	Done(st);
}

void BM_realloc_grow(benchmark::State &st)
{
	const size_t step = 16, max = 4096;
	const auto round = static_cast<benchmark::IterationCount>(ops_realloc_round_ops(step, max));

	while (st.KeepRunningBatch(round)) {
		benchmark::DoNotOptimize(ops_realloc_grow(step, max));
		benchmark::ClobberMemory();
	}
	Done(st);
}

void BM_batch_shuffled(benchmark::State &st)
{
	const size_t n = static_cast<size_t>(st.range(0));
	struct ops_batch *b = ops_batch_new(n, 16, 512, 0x9e3779b97f4a7c15ull + st.thread_index());

	while (st.KeepRunningBatch(static_cast<benchmark::IterationCount>(n))) {
		benchmark::DoNotOptimize(ops_batch_round(b));
		benchmark::ClobberMemory();
	}
	ops_batch_delete(b);
	Done(st);
}

void BM_blocks_cycle(benchmark::State &st)
{
	const size_t window = static_cast<size_t>(st.range(0));
	struct ops_blocks *b = ops_blocks_new(window, static_cast<uint64_t>(st.thread_index()) * 5);

	while (st.KeepRunningBatch(kBatch)) {
		benchmark::DoNotOptimize(ops_blocks_step(b, kBatch));
		benchmark::ClobberMemory();
	}
	ops_blocks_delete(b);
	Done(st);
}

// Registered with even thread counts only: thread 2k produces, 2k+1 consumes.
void BM_xthread_free(benchmark::State &st)
{
	const size_t size = static_cast<size_t>(st.range(0));
	struct ops_ring *r = ops_ring_of_pair(static_cast<unsigned>(st.thread_index() / 2));
	const bool producer = st.thread_index() % 2 == 0;

	while (st.KeepRunningBatch(kBatch)) {
		if (producer)
			benchmark::DoNotOptimize(ops_ring_produce(r, size, kBatch));
		else
			benchmark::DoNotOptimize(ops_ring_consume(r, kBatch));
		benchmark::ClobberMemory();
	}
	Done(st);
}

// Registered from main(), so that --sbbench_iterations can fix the count.
void RegisterAll(benchmark::IterationCount iters)
{
	std::vector<benchmark::internal::Benchmark *> all;
	auto add = [&](const char *name, void (*fn)(benchmark::State &)) {
		benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(name, fn);
		all.push_back(b);
		return b;
	};

	// ---- Single-threaded --------------------------------------------------
	add("BM_malloc_free", BM_malloc_free)->ArgName("size")->RangeMultiplier(2)->Range(16, 16 << 10);
	add("BM_calloc_free", BM_calloc_free)->ArgName("size")->RangeMultiplier(4)->Range(16, 16 << 10);
	add("BM_aligned_alloc_free", BM_aligned_alloc_free)
		->ArgNames({"align", "size"})
		->Args({64, 64})
		->Args({64, 512})
		->Args({4096, 4096})
		->Args({4096, 16 << 10});
	add("BM_realloc_grow", BM_realloc_grow);
	add("BM_batch_shuffled", BM_batch_shuffled)->ArgName("n")->Arg(64)->Arg(1024)->Arg(16384);
	add("BM_blocks_cycle", BM_blocks_cycle)->ArgName("window")->Arg(1)->Arg(16);

	// ---- Multi-threaded: every thread does the same, or pairs hand over ---
	add("BM_malloc_free", BM_malloc_free)
		->ArgName("size")
		->Arg(16)
		->Arg(256)
		->Arg(4 << 10)
		->Arg(16 << 10)
		->UseRealTime()
		->Threads(2)
		->Threads(4);
	add("BM_batch_shuffled", BM_batch_shuffled)
		->ArgName("n")
		->Arg(1024)
		->UseRealTime()
		->Threads(2)
		->Threads(4);
	add("BM_blocks_cycle", BM_blocks_cycle)
		->ArgName("window")
		->Arg(16)
		->UseRealTime()
		->Threads(2)
		->Threads(4);
	add("BM_xthread_free", BM_xthread_free)
		->ArgName("size")
		->Arg(64)
		->Arg(1024)
		->Arg(32 << 10)
		->UseRealTime()
		->Threads(2)
		->Threads(4);

	if (iters > 0)
		for (auto *b : all)
			b->Iterations(iters);
}

}  // namespace

int main(int argc, char **argv)
{
	const char *preload = std::getenv("LD_PRELOAD");
	const char flag[] = "--sbbench_iterations=";
	benchmark::IterationCount iters = 0;
	int i, j;

	// Our own flag, taken out before Google Benchmark sees the arguments.
	for (i = j = 1; i < argc; i++) {
		if (std::strncmp(argv[i], flag, sizeof(flag) - 1) == 0)
			iters = std::strtoll(argv[i] + sizeof(flag) - 1, nullptr, 10);
		else
			argv[j++] = argv[i];
	}
	argc = j;
	argv[argc] = nullptr;

	RegisterAll(iters);
	benchmark::AddCustomContext("allocator", ops_allocator_name());
	benchmark::AddCustomContext("ld_preload", preload != nullptr ? preload : "");
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
