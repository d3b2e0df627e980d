/*
 * inode-cache.c - a toy inode cache on sbmalloc's dedicated object caches.
 *
 * A file system keeps in-memory inodes: a few hundred bytes each, with a
 * lock, list heads and a name buffer that must be initialised before use.
 * With a dedicated cache (sb_cache_create, like the kernel's kmem_cache)
 * that initialisation is the constructor: it runs once per object slot, and
 * an inode is handed back in its constructed state (lists empty, lock
 * unlocked, name cleared), so the next iget() skips it.  Without one, every
 * iget() pays malloc + full initialisation and every iput() pays
 * pthread_mutex_destroy + free.
 *
 * The program runs the same workload both ways and prints ns per inode:
 *   malloc   malloc + memset + pthread_mutex_init + list init, then
 *            pthread_mutex_destroy + free: works under any allocator;
 *   cache    sb_cache_alloc / sb_cache_free with the initialisation in the
 *            constructor: only when the allocator serving the program is
 *            sbmalloc.  The sb_cache_* functions are found with dlsym, so
 *            this program is not linked with sbmalloc and runs under glibc,
 *            jemalloc, tcmalloc, mimalloc... through LD_PRELOAD.
 * The workload: waves of iget() of varying size (64 to 4096 inodes live),
 * each inode locked, filled in and put on an LRU list, then the wave is
 * iput() in LRU order.
 *
 * Usage: inode-cache [inodes per mode, default 4000000]
 *   LD_PRELOAD=src/.libs/libsbmalloc.so examples/inode-cache
 *   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 examples/inode-cache
 * Output, one "key value" line each: allocator, malloc_ns_per_inode and
 * cache_ns_per_inode (thread CPU time, user + system, per inode; "n/a"
 * when the allocator is not sbmalloc), the same in wall-clock time
 * (*_wall_ns_per_inode), and a checksum.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* sbmalloc's API (include/sbmalloc.h), reached through dlsym. */
typedef struct sb_cache sb_cache_t;
typedef sb_cache_t *(*cache_create_fn)(const char *, size_t, size_t,
				       void (*)(void *, void *), void (*)(void *, void *), void *);
typedef void *(*cache_alloc_fn)(sb_cache_t *);
typedef void (*cache_free_fn)(sb_cache_t *, void *);
typedef void (*cache_destroy_fn)(sb_cache_t *);

static cache_create_fn cache_create;
static cache_alloc_fn cache_alloc;
static cache_free_fn cache_free;
static cache_destroy_fn cache_destroy;

struct list_head {
	struct list_head *next, *prev;
};

static void list_init(struct list_head *h)
{
	h->next = h->prev = h;
}

static void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void list_del_init(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

#define NAME_MAX_LEN 256
#define INODE_MAGIC 0x1dea5eedu

struct inode {
	pthread_mutex_t i_lock;
	struct list_head i_lru;		/* on the LRU list while in use */
	struct list_head i_sb_list;
	struct list_head i_dentry;
	unsigned long i_ino;
	unsigned int i_mode, i_nlink, i_uid, i_gid, i_magic, i_namelen;
	long long i_size;
	struct timespec i_atime, i_mtime, i_ctime;
	unsigned long i_blocks[12];
	char i_name[NAME_MAX_LEN];
};

/* The constructed state: zeroes, lists empty, lock initialised. */
static void inode_init_once(void *obj, void *arg)
{
	struct inode *inode = obj;

	(void)arg;
	memset(inode, 0, sizeof(*inode));
	pthread_mutex_init(&inode->i_lock, NULL);
	list_init(&inode->i_lru);
	list_init(&inode->i_sb_list);
	list_init(&inode->i_dentry);
	inode->i_magic = INODE_MAGIC;
}

static void inode_fini(void *obj, void *arg)
{
	struct inode *inode = obj;

	(void)arg;
	pthread_mutex_destroy(&inode->i_lock);
}

/* What iget() does with a constructed inode: name it, fill it in, list it. */
static void inode_fill(struct inode *inode, unsigned long ino, struct list_head *lru)
{
	unsigned long v = ino;
	char *p = inode->i_name;
	char digits[24];
	int n = 0;

	pthread_mutex_lock(&inode->i_lock);
	inode->i_ino = ino;
	inode->i_mode = 0100644;
	inode->i_nlink = 1;
	inode->i_size = (long long)(ino * 4096);
	inode->i_blocks[0] = ino;
	memcpy(p, "inode-", 6);
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (inode->i_namelen = 6; n > 0; inode->i_namelen++)
		p[inode->i_namelen] = digits[--n];
	list_add_tail(&inode->i_lru, lru);
	pthread_mutex_unlock(&inode->i_lock);
}

/* What iput() does before the inode goes back: off the list, and (for the
 * cache) back to the constructed state - only what iget() changed. */
static unsigned long inode_clear(struct inode *inode)
{
	unsigned long ino = inode->i_ino;

	pthread_mutex_lock(&inode->i_lock);
	list_del_init(&inode->i_lru);
	memset(inode->i_name, 0, inode->i_namelen);
	inode->i_namelen = 0;
	inode->i_ino = 0;
	inode->i_mode = inode->i_nlink = 0;
	inode->i_size = 0;
	inode->i_blocks[0] = 0;
	pthread_mutex_unlock(&inode->i_lock);
	return ino;
}

static struct inode *iget_malloc(void)
{
	struct inode *inode = malloc(sizeof(*inode));

	if (inode != NULL)
		inode_init_once(inode, NULL);
	return inode;
}

static void iput_malloc(struct inode *inode)
{
	inode_fini(inode, NULL);
	free(inode);
}

static sb_cache_t *inode_cachep;

static struct inode *iget_cache(void)
{
	return cache_alloc(inode_cachep);
}

static void iput_cache(struct inode *inode)
{
	cache_free(inode_cachep, inode);
}

static const unsigned waves[] = { 512, 4096, 64, 2048, 1024, 256, 3000, 128 };

/* total inodes in waves; returns a checksum so nothing is optimised away. */
static unsigned long run(unsigned long total, struct inode *(*iget)(void),
			 void (*iput)(struct inode *))
{
	struct list_head lru;
	unsigned long done = 0, sum = 0, ino = 1;
	unsigned w = 0;

	list_init(&lru);
	while (done < total) {
		unsigned long n = waves[w++ % (sizeof(waves) / sizeof(waves[0]))], i;

		if (n > total - done)
			n = total - done;
		for (i = 0; i < n; i++) {
			struct inode *inode = iget();

			if (inode == NULL || inode->i_magic != INODE_MAGIC || inode->i_namelen != 0) {
				fprintf(stderr, "inode-cache: bad inode %p\n", (void *)inode);
				exit(1);
			}
			inode_fill(inode, ino++, &lru);
		}
		while (lru.next != &lru) {
			struct inode *inode = (struct inode *)((char *)lru.next -
							       offsetof(struct inode, i_lru));

			sum += inode_clear(inode);
			iput(inode);
		}
		done += n;
	}
	return sum;
}

static double clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct timing {
	double cpu_ns, wall_ns;		/* per inode */
};

/*
 * CPU time of this thread (user + system: it includes what the allocator
 * spends in the kernel, e.g. glibc's trimming) per inode, which a loaded
 * machine disturbs less than wall-clock time; wall-clock time as well.
 */
static struct timing timed(unsigned long total, struct inode *(*iget)(void),
			   void (*iput)(struct inode *), unsigned long *sum)
{
	struct timing t;
	double c0, w0;

	run(total / 10 + 1, iget, iput);	/* warm up */
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	w0 = clock_ns(CLOCK_MONOTONIC);
	*sum += run(total, iget, iput);
	t.cpu_ns = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)total;
	t.wall_ns = (clock_ns(CLOCK_MONOTONIC) - w0) / (double)total;
	return t;
}

static const char *allocator_name(void)
{
	const char *(*sb_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "sb_version");
	static char buf[64];

	if (sb_version != NULL) {
		snprintf(buf, sizeof buf, "sbmalloc-%s", sb_version());
		return buf;
	}
	if (dlsym(RTLD_DEFAULT, "mallctl") != NULL)
		return "jemalloc";
	if (dlsym(RTLD_DEFAULT, "mi_version") != NULL)
		return "mimalloc";
	if (dlsym(RTLD_DEFAULT, "tc_version") != NULL)
		return "tcmalloc";
	return "glibc";
}

int main(int argc, char **argv)
{
	unsigned long total = argc > 1 ? strtoul(argv[1], NULL, 0) : 4000000, sum = 0;
	struct timing m, c = { -1, -1 };

	if (total == 0) {
		fprintf(stderr, "usage: %s [inodes per mode]\n", argv[0]);
		return 2;
	}
	*(void **)&cache_create = dlsym(RTLD_DEFAULT, "sb_cache_create");
	*(void **)&cache_alloc = dlsym(RTLD_DEFAULT, "sb_cache_alloc");
	*(void **)&cache_free = dlsym(RTLD_DEFAULT, "sb_cache_free");
	*(void **)&cache_destroy = dlsym(RTLD_DEFAULT, "sb_cache_destroy");

	m = timed(total, iget_malloc, iput_malloc, &sum);
	if (cache_create && cache_alloc && cache_free && cache_destroy) {
		inode_cachep = cache_create("inode_cache", sizeof(struct inode), 0,
					    inode_init_once, inode_fini, NULL);
		if (inode_cachep == NULL) {
			perror("sb_cache_create");
			return 1;
		}
		c = timed(total, iget_cache, iput_cache, &sum);
		cache_destroy(inode_cachep);
	}
	printf("allocator %s\n", allocator_name());
	printf("inode_bytes %zu\n", sizeof(struct inode));
	printf("inodes %lu\n", total);
	printf("malloc_ns_per_inode %.1f\n", m.cpu_ns);
	if (c.cpu_ns >= 0)
		printf("cache_ns_per_inode %.1f\n", c.cpu_ns);
	else
		printf("cache_ns_per_inode n/a\n");
	printf("malloc_wall_ns_per_inode %.1f\n", m.wall_ns);
	if (c.wall_ns >= 0)
		printf("cache_wall_ns_per_inode %.1f\n", c.wall_ns);
	else
		printf("cache_wall_ns_per_inode n/a\n");
	printf("checksum %lu\n", sum);
	return 0;
}
