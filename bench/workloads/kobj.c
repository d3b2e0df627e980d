/*
 * kobj.c - kernel-style object workload: many objects of a few fixed sizes,
 * created and destroyed in waves, as a file system's caches see them.
 *
 *   kobj [SCALE] [THREADS] [WAVE]
 *
 * Each "file" is an inode (600 bytes), a dentry (192 bytes), for half of
 * them an open file (256 bytes), and one to three buffer heads (104 bytes),
 * the sizes of those kernel structures on x86-64.  Each of THREADS threads
 * (default 2) runs SCALE * 10 waves; a wave creates WAVE (default 20000)
 * files and then destroys a random three quarters of the thread's files.
 * One destroyed file in four is not freed by its own thread but handed to
 * the next thread, which frees it at the start of its next wave, as RCU
 * callbacks free objects on another CPU.  At the end everything is freed.
 * Every object is filled with a pattern and verified before it is freed.
 *
 * Prints: kobj threads=T waves=W files=N check=HEX
 */
#include "common.h"

enum { INODE = 600, DENTRY = 192, FILE_ = 256, BH = 104, MAX_BH = 3 };

typedef struct {
	void *inode, *dentry, *file, *bh[MAX_BH];
	int nbh;
	uint64_t tag;
} kfile_t;

/* A list of files handed to a thread for freeing, under a lock. */
typedef struct {
	pthread_mutex_t lock;
	kfile_t *v;
	size_t n, cap;
} inbox_t;

typedef struct {
	pthread_t th;
	int id;
	rng_t rng;
	kfile_t *files;		/* this thread's live files */
	size_t nfiles, cap;
	uint64_t made, freed;	/* sums of tags */
	inbox_t inbox;
} worker_t;

static int nthreads;
static long waves, wave_size;
static worker_t *workers;

static void push(kfile_t **v, size_t *n, size_t *cap, const kfile_t *f)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		*v = realloc(*v, *cap * sizeof **v);
		if (*v == NULL)
			die("kobj: out of memory");
	}
	(*v)[(*n)++] = *f;
}

static void *obj(size_t size, uint64_t tag)
{
	void *p = xmalloc(size);

	fill(p, size, tag);
	return p;
}

static void create(worker_t *w)
{
	kfile_t f;
	int i;

	f.tag = rng_next(&w->rng);
	f.inode = obj(INODE, f.tag);
	f.dentry = obj(DENTRY, f.tag + 1);
	f.file = (f.tag & 1) ? obj(FILE_, f.tag + 2) : NULL;
	f.nbh = 1 + (int)rng_below(&w->rng, MAX_BH);
	for (i = 0; i < f.nbh; i++)
		f.bh[i] = obj(BH, f.tag + 3 + (uint64_t)i);
	w->made += f.tag;
	push(&w->files, &w->nfiles, &w->cap, &f);
}

static void destroy(worker_t *w, const kfile_t *f)
{
	int i;

	for (i = f->nbh - 1; i >= 0; i--) {
		check_obj("kobj buffer head", f->bh[i], BH, f->tag + 3 + (uint64_t)i);
		free(f->bh[i]);
	}
	if (f->file) {
		check_obj("kobj file", f->file, FILE_, f->tag + 2);
		free(f->file);
	}
	check_obj("kobj dentry", f->dentry, DENTRY, f->tag + 1);
	free(f->dentry);
	check_obj("kobj inode", f->inode, INODE, f->tag);
	free(f->inode);
	w->freed += f->tag;
}

/* Free what other threads handed to w. */
static void drain(worker_t *w)
{
	kfile_t *v;
	size_t n, i;

	pthread_mutex_lock(&w->inbox.lock);
	v = w->inbox.v;
	n = w->inbox.n;
	w->inbox.v = NULL;
	w->inbox.n = w->inbox.cap = 0;
	pthread_mutex_unlock(&w->inbox.lock);
	for (i = 0; i < n; i++)
		destroy(w, &v[i]);
	free(v);
}

static void *worker(void *arg)
{
	worker_t *w = arg;
	worker_t *next = &workers[(w->id + 1) % nthreads];
	long wave, i;

	for (wave = 0; wave < waves; wave++) {
		drain(w);
		for (i = 0; i < wave_size; i++)
			create(w);
		/* Destroy three quarters, chosen at random; defer one in four. */
		for (i = 0; i < (long)w->nfiles;) {
			if (rng_below(&w->rng, 4) == 0) {
				i++;
				continue;
			}
			if (rng_below(&w->rng, 4) == 0) {
				pthread_mutex_lock(&next->inbox.lock);
				push(&next->inbox.v, &next->inbox.n, &next->inbox.cap, &w->files[i]);
				pthread_mutex_unlock(&next->inbox.lock);
			} else {
				destroy(w, &w->files[i]);
			}
			w->files[i] = w->files[--w->nfiles];
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t made = 0, freed = 0;
	long files = 0;
	int i;
	size_t j;

	waves = arg_long(argc, argv, 1, 10) * 10;
	nthreads = (int)arg_long(argc, argv, 2, 2);
	wave_size = arg_long(argc, argv, 3, 20000);

	workers = calloc((size_t)nthreads, sizeof *workers);
	if (workers == NULL)
		die("kobj: out of memory");
	for (i = 0; i < nthreads; i++) {
		workers[i].id = i;
		rng_seed(&workers[i].rng, 500 + (uint64_t)i);
		pthread_mutex_init(&workers[i].inbox.lock, NULL);
	}
	for (i = 0; i < nthreads; i++)
		start_thread(&workers[i].th, worker, &workers[i]);
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].th, NULL);
	/* Everything left: the live files and the inboxes. */
	for (i = 0; i < nthreads; i++) {
		worker_t *w = &workers[i];

		drain(w);
		for (j = 0; j < w->nfiles; j++)
			destroy(w, &w->files[j]);
		free(w->files);
	}
	for (i = 0; i < nthreads; i++) {
		made += workers[i].made;
		freed += workers[i].freed;
	}
	if (made != freed) {
		fprintf(stderr, "CORRUPTION: kobj: files made and freed differ\n");
		return 3;
	}
	files = waves * wave_size * nthreads;
	printf("kobj threads=%d waves=%ld files=%ld peak_rss_kib=%ld check=%016" PRIx64 "\n",
	       nthreads, waves, files, peak_rss_kib(), made);
	free(workers);
	return 0;
}
