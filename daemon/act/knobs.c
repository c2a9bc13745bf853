// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "knobs.h"
#include "log.h"

static const char *const knob_owner_table[_KNOB_OWNER_MAX] = {
	[KNOB_OWNER_SMMUD] = "smmud",
	[KNOB_OWNER_OPERATOR] = "operator",
};

const char *knob_owner_to_string(KnobOwner o)
{
	return o >= 0 && o < _KNOB_OWNER_MAX ? knob_owner_table[o] : NULL;
}

void knobs_set_event_hook(Knobs *ks, KnobsEventHook hook, void *userdata)
{
	ks->event_hook = hook;
	ks->event_hook_userdata = userdata;
}

void knobs_set_copy_hook(Knobs *ks, KnobsCopyHook hook, void *userdata)
{
	ks->copy_hook = hook;
	ks->copy_hook_userdata = userdata;
}

/* when: CLOCK_REALTIME of the change, 0: now. */
static void emit_at(const Knobs *ks, const Knob *k, uint64_t when, const char *kind,
		    const char *before, const char *after, const char *detail)
{
	if (ks->event_hook)
		ks->event_hook(k, when ?: now_usec(CLOCK_REALTIME), kind, before, after, detail,
			       ks->event_hook_userdata);
}

static void emit(const Knobs *ks, const Knob *k, const char *kind, const char *before,
		 const char *after, const char *detail)
{
	emit_at(ks, k, 0, kind, before, after, detail);
}

/* "dry run: WHY", for the event of a write a dry run only logs. */
static void emit_dry_run(const Knobs *ks, const Knob *k, const char *kind, const char *before,
			 const char *after, const char *why)
{
	_cleanup_free_ char *detail = NULL;

	if (!ks->event_hook)
		return;
	if (asprintf(&detail, "dry run: %s", why) < 0)
		return (void)log_oom();
	emit(ks, k, kind, before, after, detail);
}

static Knob *knob_free(const Knobs *ks, Knob *k)
{
	if (!k)
		return NULL;
	if (k->dir_fd >= 0)
		close(k->dir_fd);
	if (k->armed_fd >= 0)
		close(k->armed_fd);
	if (k->armed_wd >= 0)
		(void)inotify_rm_watch(ks->watch_fd, k->armed_wd);
	free(k->smmu);
	free(k->path);
	free(k->original);
	free(k->written);
	free(k->current);
	free(k->dry_run_value);
	free(k->applied);
	free(k->owner_reason);
	free(k);
	return NULL;
}

/* Its value changed by other means than knobs_apply(): the next apply looks again. */
static void forget_applied(Knob *k)
{
	free(k->applied);
	k->applied = NULL;
}

int knobs_new(const char *root, const char *runtime_dir, bool dry_run, Knobs **ret)
{
	Knobs *ks = calloc(1, sizeof(Knobs));
	_cleanup_free_ char *boot_path = NULL;

	if (!ks)
		return -ENOMEM;
	ks->watch_fd = -1;
	/* Left by a previous run, maybe: the first save that needs it gone unlinks it. */
	ks->copy_on_disk = true;
	ks->root = strdup(root);
	ks->runtime_dir = strdup(runtime_dir);
	ks->state = state_new();
	ks->dry_run = dry_run;
	boot_path = root_path(root, "proc/sys/kernel/random/boot_id");
	if (!ks->root || !ks->runtime_dir || !ks->state || !boot_path) {
		knobs_free(ks);
		return -ENOMEM;
	}
	/* Without a boot id a stale file can still be judged by its values. */
	if (read_one_line_file(boot_path, &ks->boot_id) < 0)
		ks->boot_id = NULL;
	if (ks->boot_id && !value_is_token(ks->boot_id)) {
		free(ks->boot_id);
		ks->boot_id = NULL;
	}
	if (ks->boot_id)
		ks->state->boot_id = strdup(ks->boot_id);
	/* Without it, an armed knob is read before its write, as any other. */
	ks->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ks->watch_fd < 0)
		log_debug_errno(negative_errno(), "No inotify instance for armed knobs: %m");
	*ret = ks;
	return 0;
}

Knobs *knobs_free(Knobs *ks)
{
	if (!ks)
		return NULL;
	for (size_t i = 0; i < ks->n_knobs; i++)
		knob_free(ks, ks->knobs[i]);
	free(ks->knobs);
	if (ks->watch_fd >= 0)
		close(ks->watch_fd);
	state_free(ks->state);
	free(ks->root);
	free(ks->runtime_dir);
	free(ks->boot_id);
	free(ks);
	return NULL;
}

Knob *knobs_get(Knobs *ks, const char *smmu, KnobAttr attr)
{
	_cleanup_free_ char *rel = NULL;
	Knob **n, *k;

	for (size_t i = 0; i < ks->n_knobs; i++)
		if (ks->knobs[i]->attr == attr && streq(ks->knobs[i]->smmu, smmu))
			return ks->knobs[i];

	if (!value_is_token(smmu))
		return NULL;
	if (asprintf(&rel, "sys/class/iommu/%s/arm-smmu-v3/%s", smmu, knob_attr_to_string(attr)) < 0)
		return NULL;
	k = calloc(1, sizeof(Knob));
	if (!k)
		return NULL;
	k->attr = attr;
	k->dir_fd = -1;
	k->armed_fd = -1;
	k->armed_wd = -1;
	k->smmu = strdup(smmu);
	k->path = root_path(ks->root, rel);
	n = realloc(ks->knobs, (ks->n_knobs + 1) * sizeof(Knob *));
	if (!k->smmu || !k->path || !n) {
		if (n)
			ks->knobs = n;
		knob_free(ks, k);
		return NULL;
	}
	ks->knobs = n;
	ks->knobs[ks->n_knobs++] = k;
	return k;
}

static int save_state(Knobs *ks)
{
	StateCopy copy = ks->copy_hook ? STATE_COPY_LATER : STATE_COPY_NOW;
	int r;

	if (ks->dry_run)
		return 0;
	if (ks->save_batch > 0) {
		ks->save_pending = true;
		return 0;
	}
	r = state_save(ks->runtime_dir, ks->state, copy, ks->copy_on_disk);
	if (r == -ENOENT) {
		/* The runtime directory went (someone cleaned /run): made again, once. */
		r = runtime_dir_prepare(ks->runtime_dir);
		if (r < 0)
			return log_error_errno(r, "Runtime directory %s unusable: %m",
					       ks->runtime_dir);
		r = state_save(ks->runtime_dir, ks->state, copy, ks->copy_on_disk);
	}
	ks->state_saved = r >= 0;
	if (r < 0)
		return log_error_errno(r, "Failed to write %s/" STATE_FILE_NAME ": %m",
				       ks->runtime_dir);
	if (ks->state->n_entries == 0 || copy == STATE_COPY_NOW) {
		ks->copy_on_disk = ks->state->n_entries > 0;
		ks->copy_due = false;
	} else {
		ks->copy_on_disk = false;
		ks->copy_due = true;
		ks->copy_hook(ks->copy_hook_userdata);
	}
	return 0;
}

int knobs_save_copy(Knobs *ks)
{
	int r;

	if (!ks->copy_due)
		return 0;
	ks->copy_due = false;
	/* Not what the state file says: the next save makes it due again. */
	if (ks->dry_run || !ks->state_saved)
		return 0;
	ks->copy_on_disk = true;
	r = state_save_copy(ks->runtime_dir, ks->state);
	if (r < 0)
		return log_warning_errno(r, "Failed to write %s/" STATE_COPY_NAME ": %m",
					 ks->runtime_dir);
	return 0;
}

void knobs_save_begin(Knobs *ks)
{
	ks->save_batch++;
}

int knobs_save_end(Knobs *ks)
{
	assert(ks->save_batch > 0);
	if (--ks->save_batch > 0 || !ks->save_pending)
		return 0;
	ks->save_pending = false;
	return save_state(ks);
}

/* The state file has an entry that lets value be written over the original. */
static bool state_has_hold(const Knobs *ks, const Knob *k, const char *value)
{
	const StateEntry *e = state_get(ks->state, k->smmu, knob_attr_to_string(k->attr));

	return ks->state_saved && e && k->original && streq(e->original, k->original) &&
	       streq(e->written, value);
}

int knobs_forget_smmu(Knobs *ks, const char *smmu)
{
	size_t j = 0;

	for (size_t i = 0; i < ks->n_knobs; i++) {
		Knob *k = ks->knobs[i];

		if (!streq(k->smmu, smmu)) {
			ks->knobs[j++] = k;
			continue;
		}
		if (k->written)
			log_warning("%s/%s: SMMU is gone while smmud held it at %s (original %s).",
				    smmu, knob_attr_to_string(k->attr), k->written, k->original);
		state_unset(ks->state, smmu, knob_attr_to_string(k->attr));
		knob_free(ks, k);
	}
	ks->n_knobs = j;
	return save_state(ks);
}

static void knob_close_armed(const Knobs *ks, Knob *k)
{
	if (k->armed_fd >= 0)
		close(k->armed_fd);
	k->armed_fd = -1;
	/*
	 * Removing a watch is cheap (its mark is freed later, by a worker);
	 * closing an inotify instance waits for an SRCU grace period, which
	 * is why there is one instance for all knobs.
	 */
	if (k->armed_wd >= 0)
		(void)inotify_rm_watch(ks->watch_fd, k->armed_wd);
	k->armed_wd = -1;
	k->armed_known = false;
}

/* Takes the queued events: a knob written to since its read is not known any more. */
static void knobs_drain_watch(Knobs *ks)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (ks->watch_fd < 0)
		return;
	for (;;) {
		ssize_t n = read(ks->watch_fd, buf, sizeof(buf));

		if (n <= 0)
			return; /* EAGAIN: empty */
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			for (size_t i = 0; i < ks->n_knobs; i++)
				if ((ev->mask & IN_Q_OVERFLOW) ||
				    (ev->wd >= 0 && ev->wd == ks->knobs[i]->armed_wd))
					ks->knobs[i]->armed_known = false;
			p += sizeof(*ev) + ev->len;
		}
	}
}

/*
 * Armed, read since, and nobody wrote to it meanwhile: current is what the
 * kernel has, without reading the attribute again.  Every write(2), the
 * operator's included, queues an IN_MODIFY on the watch (vfs_write() tells
 * fsnotify of any file, sysfs attributes too); an empty queue is one
 * cheap read, where the attribute's own read is several locks and an
 * allocation in the kernel, on the path that races the dying VMM.
 */
static bool knob_armed_unchanged(Knobs *ks, const Knob *k)
{
	if (k->armed_fd < 0 || k->armed_wd < 0 || !k->armed_known || !k->current)
		return false;
	knobs_drain_watch(ks);
	return k->armed_known;
}

/* The directory we held went (the SMMU unbound): the next write checks anew. */
static void knob_forget_dir(const Knobs *ks, Knob *k)
{
	if (k->dir_fd >= 0)
		close(k->dir_fd);
	k->dir_fd = -1;
	knob_close_armed(ks, k);
}

int knobs_read(Knobs *ks, Knob *k)
{
	_cleanup_free_ char *v = NULL;
	int r;

	/* Once a write checked and holds its directory, read what we write. */
	r = -ENOENT;
	if (k->armed_fd >= 0) {
		r = read_one_line_fd(k->armed_fd, &v);
		/* Writes before this read may still be queued: a later look reads again. */
		if (r >= 0)
			k->armed_known = k->armed_wd >= 0;
		if (r < 0) {
			/* Gone with its device (ENODEV): the directory is looked up again. */
			knob_forget_dir(ks, k);
			r = -ENOENT;
		}
	}
	if (r == -ENOENT && k->dir_fd >= 0) {
		r = read_one_line_fileat(k->dir_fd, knob_attr_to_string(k->attr), &v);
		if (r == -ENOENT)
			knob_forget_dir(ks, k);
	}
	if (r == -ENOENT)
		r = read_one_line_file(k->path, &v);
	if (r < 0)
		return r;
	/* What we would write back must be a clean token. */
	if (!value_is_token(v) || strlen(v) >= KNOB_VALUE_MAX)
		return -EBADMSG;
	free(k->current);
	k->current = TAKE_PTR(v);
	return 0;
}

static void log_change(int level, const Knob *k, const char *decision, const char *before,
		       const char *after, const char *fmt, ...) _printf_(6, 7);
static void log_change(int level, const Knob *k, const char *decision, const char *before,
		       const char *after, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return (void)log_oom();
	log_struct(level,
		   "SMMUD_SMMU=%s", k->smmu,
		   "SMMUD_KNOB=%s", knob_attr_to_string(k->attr),
		   "SMMUD_DECISION=%s", decision,
		   "SMMUD_BEFORE=%s", before ?: "",
		   "SMMUD_AFTER=%s", after ?: "",
		   LOG_MESSAGE("%s/%s: %s", k->smmu, knob_attr_to_string(k->attr), msg));
}

/* Someone else wrote a knob we hold: hand it over or note it, by policy. */
static int external_change(Knobs *ks, Knob *k)
{
	int r;

	forget_applied(k);
	if (ks->on_external_change == EXTERNAL_CHANGE_REASSERT) {
		log_change(LOG_WARNING, k, "external-change", k->written, k->current,
			   "changed to %s behind smmud's back (it held %s); writing it again "
			   "(ExternalChange=reassert).",
			   k->current, k->written);
		emit(ks, k, "drift", k->written, k->current,
		     "changed behind smmud's back; writing it again (ExternalChange=reassert)");
		return 1;
	}
	log_change(LOG_WARNING, k, "external-change", k->written, k->current,
		   "changed to %s behind smmud's back (it held %s, original %s); leaving this "
		   "knob alone from now on (ExternalChange=release).",
		   k->current, k->written, k->original);
	k->owner = KNOB_OWNER_OPERATOR;
	free(k->owner_reason);
	if (asprintf(&k->owner_reason, "changed to %s by someone else", k->current) < 0)
		k->owner_reason = NULL;
	emit(ks, k, "release", k->written, k->current,
	     "changed behind smmud's back; left alone from now on (ExternalChange=release)");
	free(k->written);
	k->written = NULL;
	state_unset(ks->state, k->smmu, knob_attr_to_string(k->attr));
	r = save_state(ks);
	return r < 0 ? r : 1;
}

int knobs_check_drift(Knobs *ks, Knob *k)
{
	int r;

	if (!k->written || k->owner != KNOB_OWNER_SMMUD)
		return 0;
	r = knobs_read(ks, k);
	if (r < 0)
		return log_warning_errno(r, "%s/%s: cannot read back: %m", k->smmu,
					 knob_attr_to_string(k->attr));
	if (streq(k->current, k->written))
		return 0;
	return external_change(ks, k);
}

int knobs_check_drift_all(Knobs *ks)
{
	int n = 0;

	for (size_t i = 0; i < ks->n_knobs; i++)
		if (knobs_check_drift(ks, ks->knobs[i]) > 0)
			n++;
	return n;
}

/*
 * The attribute's directory, opened and then checked where it really is:
 * an arm-smmu-v3 directory under <root>/sys.  A symlink (the SMMU's class
 * entry, its attribute group) that leads elsewhere is refused, so no path
 * smmud builds writes outside the SMMU attributes.  Kept open once
 * checked: no later rename or symlink can redirect a write, and a storm's
 * first write, racing a dying VMM's teardown, resolves no path.  (The
 * attribute itself is opened O_NOFOLLOW.)
 */
static int knob_dir(const Knobs *ks, Knob *k)
{
	_cleanup_free_ char *sys = root_path(ks->root, "sys");
	_cleanup_free_ char *rsys = NULL, *rdir = NULL, *dir = NULL;
	_cleanup_close_ int fd = -1;
	char self[64];
	const char *rest, *slash = strrchr(k->path, '/');
	int r;

	if (k->dir_fd >= 0)
		return k->dir_fd;
	if (!sys || !slash)
		return -ENOMEM;
	dir = strndup(k->path, (size_t)(slash - k->path));
	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	rsys = realpath(sys, NULL);
	if (!rsys)
		return negative_errno();
	/* Where the directory we hold is, not where the path leads now. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	r = readlink_malloc(self, &rdir);
	if (r < 0)
		return r;
	rest = startswith(rdir, rsys);
	slash = strrchr(rdir, '/');
	if (!rest || rest[0] != '/' || !streq(slash, "/arm-smmu-v3")) {
		log_error("%s/%s: %s resolves to %s, not an SMMU attribute group under %s: "
			  "refusing to write.",
			  k->smmu, knob_attr_to_string(k->attr), dir, rdir, rsys);
		return -EPERM;
	}
	k->dir_fd = TAKE_FD(fd);
	return k->dir_fd;
}

static int write_value(const Knobs *ks, Knob *k, const char *value)
{
	_cleanup_free_ char *line = NULL;
	bool held = k->dir_fd >= 0;
	int dir_fd, r;

	if (asprintf(&line, "%s\n", value) < 0)
		return -ENOMEM;
	if (k->armed_fd >= 0) {
		/*
		 * Armed: one syscall on the attribute opened then.  At offset 0:
		 * it stays open for the writes after this one (knobs_set()),
		 * and a plain file (the test trees) is written where it is read.
		 */
		ssize_t n = pwrite(k->armed_fd, line, strlen(line), 0);

		r = n < 0 ? negative_errno() : (size_t)n != strlen(line) ? -EIO : 0;
		if (r >= 0 && k->armed_truncate && ftruncate(k->armed_fd, n) < 0)
			r = negative_errno();
		if (r != -ENODEV && r != -ENOENT)
			return r;
		/* Its device went since: look the directory up again, as below. */
		knob_forget_dir(ks, k);
		held = false;
	}
	dir_fd = knob_dir(ks, k);
	if (dir_fd < 0)
		return dir_fd;
	r = write_string_fileat(dir_fd, knob_attr_to_string(k->attr), line);
	if (r != -ENOENT)
		return r;
	knob_forget_dir(ks, k);
	if (!held)
		return r;
	/* A directory held from before may have been replaced (unbound, bound again). */
	dir_fd = knob_dir(ks, k);
	if (dir_fd < 0)
		return dir_fd;
	return write_string_fileat(dir_fd, knob_attr_to_string(k->attr), line);
}

static int set_value(Knobs *ks, Knob *k, const char *value, const char *why);

int knobs_set(Knobs *ks, Knob *k, const char *value, const char *why)
{
	int r;

	forget_applied(k);
	r = set_value(ks, k, value, why);
	/* -EBUSY: not ours to write, which is no failure (smmud_knob_write_failures_total). */
	if (r < 0 && r != -EBUSY)
		k->write_failures++;

	/*
	 * An armed attribute stays open after its write, as after none, for
	 * smmu_arm() to keep (in a storm, and while VMs may die) or let go
	 * after the decision: its close and the removal of its watch cost
	 * more than the write (1.5-6.5 ms under TCG) and would come in the
	 * wake-up that races the dying VMM's teardown, before smmud yields
	 * the CPU.  Our own write queued an IN_MODIFY on its watch: what it
	 * holds is read again through the fd before it is trusted.  A failed
	 * write lets it go: the next one looks the attribute up anew.
	 */
	if (r > 0)
		k->armed_known = false;
	else if (r < 0)
		knob_close_armed(ks, k);
	return r < 0 ? r : 0;
}

/* 1: value written; 0: nothing to write (or a dry run); < 0: failed, as logged. */
static int set_value(Knobs *ks, Knob *k, const char *value, const char *why)
{
	_cleanup_free_ char *previous = NULL;
	uint64_t written_usec = 0;
	bool armed;
	int r;

	if (k->owner != KNOB_OWNER_SMMUD)
		return -EBUSY;
	if (!value_is_token(value) || strlen(value) >= KNOB_VALUE_MAX)
		return -EINVAL;

	r = knob_armed_unchanged(ks, k) ? 0 : knobs_read(ks, k);
	if (r < 0)
		return log_error_errno(r, "%s/%s: cannot read %s: %m", k->smmu,
				       knob_attr_to_string(k->attr), k->path);

	if (ks->dry_run) {
		const char *now = k->dry_run_value ?: k->current;

		if (streq(now, value))
			return 0;
		log_change(LOG_NOTICE, k, why, now, value, "dry run: would write %s (now %s).",
			   value, now);
		emit_dry_run(ks, k, "write", now, value, why);
		return free_and_strdup(&k->dry_run_value, value) < 0 ? -ENOMEM : 0;
	}

	if (k->written && !streq(k->current, k->written)) {
		r = external_change(ks, k);
		if (r < 0)
			return r;
		if (k->owner != KNOB_OWNER_SMMUD)
			return -EBUSY;
	} else if (!k->written && k->original && !streq(k->current, k->original))
		log_info("%s/%s: now %s (was %s while smmud held nothing): taking it as the "
			 "original.",
			 k->smmu, knob_attr_to_string(k->attr), k->current, k->original);

	if (!k->written) {
		r = free_and_strdup(&k->original, k->current);
		if (r < 0)
			return r;
	}
	if (streq(k->current, value))
		return 0;

	/* The original goes to disk before the kernel sees our value. */
	armed = !k->written && state_has_hold(ks, k, value);
	previous = k->written ? strdup(k->written) : NULL;
	if (k->written && !previous)
		return -ENOMEM;
	if (streq(value, k->original))
		state_unset(ks->state, k->smmu, knob_attr_to_string(k->attr));
	else {
		r = state_set(ks->state, k->smmu, knob_attr_to_string(k->attr), k->original, value);
		if (r < 0)
			return r;
	}
	/* Armed for this very write: the entry is on disk already. */
	r = armed ? 0 : save_state(ks);
	if (r < 0 && previous && streq(value, k->original)) {
		/*
		 * Putting the original back needs no record: the file's entry
		 * for this knob goes stale, which is harmless (recovery
		 * restores only a knob that still has the value it names).
		 * A full or read-only runtime directory never keeps a knob
		 * at a storm value.
		 */
		log_warning("%s/%s: restoring %s although the state file could not be updated.",
			    k->smmu, knob_attr_to_string(k->attr), value);
		r = 0;
	}
	if (r >= 0) {
		r = write_value(ks, k, value);
		written_usec = now_usec(CLOCK_REALTIME);
		if (r < 0)
			log_error_errno(r, "%s/%s: failed to write %s to %s: %m", k->smmu,
					knob_attr_to_string(k->attr), value, k->path);
	}
	if (r < 0) {
		/* Undo the state entry: the kernel still has the old value. */
		if (previous)
			(void)state_set(ks->state, k->smmu, knob_attr_to_string(k->attr),
					k->original, previous);
		else
			state_unset(ks->state, k->smmu, knob_attr_to_string(k->attr));
		(void)save_state(ks);
		return r;
	}

	log_change(LOG_NOTICE, k, why, k->current, value, "%s -> %s (%s).", k->current, value, why);
	emit_at(ks, k, written_usec, streq(value, k->original) ? "restore" : "write", k->current,
		value, why);
	r = free_and_strdup(&k->current, value);
	if (r >= 0)
		r = free_and_strdup(&k->written, streq(value, k->original) ? NULL : value);
	return r < 0 ? r : 1;
}

int knobs_restore(Knobs *ks, Knob *k, const char *why)
{
	forget_applied(k);
	if (ks->dry_run) {
		if (k->dry_run_value && k->current && !streq(k->dry_run_value, k->current)) {
			log_change(LOG_NOTICE, k, why, k->dry_run_value, k->current,
				   "dry run: would restore %s.", k->current);
			emit_dry_run(ks, k, "restore", k->dry_run_value, k->current, why);
		}
		free(k->dry_run_value);
		k->dry_run_value = NULL;
		return 0;
	}
	if (!k->written || k->owner != KNOB_OWNER_SMMUD)
		return 0;
	return knobs_set(ks, k, k->original, why);
}

int knobs_apply(Knobs *ks, Knob *k, const char *want, const char *why, bool force)
{
	int r;

	if (!force && streq_ptr(k->applied, want))
		return 0;
	r = streq(want, "keep") ? knobs_restore(ks, k, why) : knobs_set(ks, k, want, why);
	if (r < 0)
		return r;
	return free_and_strdup(&k->applied, want) < 0 ? -ENOMEM : 0;
}

int knobs_reclaim(Knobs *ks, Knob *k)
{
	if (k->owner == KNOB_OWNER_SMMUD)
		return 0;
	k->owner = KNOB_OWNER_SMMUD;
	free(k->owner_reason);
	k->owner_reason = NULL;
	free(k->original);
	k->original = NULL;
	forget_applied(k);
	return 1;
}

/* Watches the armed attribute itself, by its open fd: no path to swap. */
static void knob_watch_armed(const Knobs *ks, Knob *k)
{
	char proc_path[64];
	int wd;

	if (ks->watch_fd < 0)
		return;
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", k->armed_fd);
	wd = inotify_add_watch(ks->watch_fd, proc_path, IN_MODIFY);
	if (wd < 0) {
		log_debug_errno(negative_errno(), "%s/%s: no watch, it is read before its write: %m",
				k->smmu, knob_attr_to_string(k->attr));
		return;
	}
	k->armed_wd = wd;
}

/*
 * The attribute opened now (through the checked directory, O_NOFOLLOW like
 * every write), so that the write that starts the storm is one syscall.
 * Without it the write still works, the usual way.
 */
static int knob_open_armed(const Knobs *ks, Knob *k)
{
	struct statfs sfs;
	struct stat st;
	int dir_fd, fd;

	dir_fd = knob_dir(ks, k);
	if (dir_fd < 0)
		return dir_fd;
	fd = openat(dir_fd, knob_attr_to_string(k->attr),
		    O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return log_debug_errno(negative_errno(), "%s/%s: cannot open it armed: %m", k->smmu,
				       knob_attr_to_string(k->attr));
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	knob_close_armed(ks, k);
	k->armed_fd = fd;
	/*
	 * A sysfs attribute is a regular file too, but its store() takes the
	 * whole write and has no length to cut: a truncate there is a second
	 * syscall (kernfs' setattr) before the write is known to have landed.
	 */
	k->armed_truncate = S_ISREG(st.st_mode) && sfs.f_type != SYSFS_MAGIC;
	knob_watch_armed(ks, k);
	return 0;
}

int knobs_arm(Knobs *ks, Knob *k, const char *value)
{
	const char *attr = knob_attr_to_string(k->attr);
	const StateEntry *e;
	int r;

	if (ks->dry_run || k->owner != KNOB_OWNER_SMMUD || k->written)
		return 0;
	if (!value_is_token(value) || strlen(value) >= KNOB_VALUE_MAX)
		return -EINVAL;
	e = state_get(ks->state, k->smmu, attr);
	if (e && ks->state_saved && streq(e->written, value))
		return k->armed_fd >= 0 ? 0 : knob_open_armed(ks, k);
	/*
	 * Found at value by the last arming, and not written to since: each
	 * decision of a storm arms again, and this costs one empty read of
	 * the watch instead of an open, a read and a close of the attribute.
	 */
	if (!e && knob_armed_unchanged(ks, k) && streq(k->current, value))
		return 0;

	/*
	 * Opened (and watched) before it is read: a write after the watch
	 * began is one the storm's write will not miss.  Unopened, the read
	 * and the write go the usual way.
	 */
	knobs_drain_watch(ks);
	if (k->armed_fd < 0)
		(void)knob_open_armed(ks, k);
	r = knobs_read(ks, k);
	if (r < 0) {
		knob_close_armed(ks, k);
		return log_warning_errno(r, "%s/%s: cannot read %s to arm it: %m", k->smmu, attr,
					 k->path);
	}
	if (streq(k->current, value)) {
		/*
		 * Nothing would be written: nothing to record, and an entry
		 * armed for another value goes.  The attribute stays open and
		 * watched for the next arming (above).
		 */
		if (!e)
			return 0;
		state_unset(ks->state, k->smmu, attr);
		return save_state(ks);
	}
	r = free_and_strdup(&k->original, k->current);
	if (r >= 0)
		r = state_set(ks->state, k->smmu, attr, k->original, value);
	if (r >= 0) {
		r = save_state(ks);
		if (r < 0)
			/* Not on disk: the write, if it comes, saves the entry first itself. */
			state_unset(ks->state, k->smmu, attr);
	}
	if (r < 0) {
		knob_close_armed(ks, k);
		return r;
	}
	log_debug("%s/%s: armed for %s (original %s on disk).", k->smmu, attr, value, k->original);
	return k->armed_fd >= 0 ? 0 : knob_open_armed(ks, k);
}

int knobs_disarm(Knobs *ks, Knob *k)
{
	const char *attr = knob_attr_to_string(k->attr);
	bool watched = k->armed_wd >= 0;

	knob_close_armed(ks, k);
	/* Its watch's last events (and IN_IGNORED) out of the queue. */
	if (watched)
		knobs_drain_watch(ks);
	if (ks->dry_run || k->written || !state_get(ks->state, k->smmu, attr))
		return 0;
	state_unset(ks->state, k->smmu, attr);
	return save_state(ks);
}

int knobs_restore_all(Knobs *ks, const char *why)
{
	int ret = 0;

	for (size_t i = 0; i < ks->n_knobs; i++) {
		int r = knobs_restore(ks, ks->knobs[i], why);

		if (r >= 0)
			r = knobs_disarm(ks, ks->knobs[i]);
		if (r < 0 && r != -EBUSY && ret == 0)
			ret = r;
	}
	return ret;
}

bool knobs_holding(const Knobs *ks)
{
	for (size_t i = 0; i < ks->n_knobs; i++)
		if (ks->knobs[i]->written && ks->knobs[i]->owner == KNOB_OWNER_SMMUD)
			return true;
	return false;
}

/*
 * One of the two state files: 0 and the state (NULL: none, or unusable,
 * which is logged and moved aside), or -errno if it cannot be read.
 */
static int recover_load(Knobs *ks, const char *name, State **ret)
{
	_cleanup_free_ char *error = NULL;
	int r;

	*ret = NULL;
	r = state_load(ks->runtime_dir, name, ret, &error);
	if (r == -ENOENT)
		return 0;
	if (r == -EBADMSG || r == -EFBIG) {
		log_error("%s/%s is unusable (%s); moved to %s.bad, nothing restored from it.",
			  ks->runtime_dir, name, error ?: strerror(-r), name);
		if (!ks->dry_run)
			(void)state_quarantine(ks->runtime_dir, name);
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "Failed to read %s/%s: %m", ks->runtime_dir, name);
	return 0;
}

int knobs_recover(Knobs *ks)
{
	_cleanup_state_free_ State *old = NULL;
	int r, ret = 0;

	/* The state file, or its copy when it is missing or damaged. */
	r = recover_load(ks, STATE_FILE_NAME, &old);
	if (!old) {
		int k = recover_load(ks, STATE_COPY_NAME, &old);

		if (old)
			log_notice("Recovering from %s/" STATE_COPY_NAME ", the copy of the state file.",
				   ks->runtime_dir);
		r = r < 0 ? r : k;
	}
	if (!old)
		return r;

	if (old->boot_id && ks->boot_id && !streq(old->boot_id, ks->boot_id)) {
		log_info("State file is from an earlier boot: the kernel has its defaults again, "
			 "nothing to restore.");
		return save_state(ks);
	}
	log_notice("A previous run did not stop cleanly: restoring %zu knob(s) from its state "
		   "file.",
		   old->n_entries);

	for (size_t i = 0; i < old->n_entries; i++) {
		const StateEntry *e = &old->entries[i];
		const char *reason;
		Knob *k;

		/* Only values the kernel takes are written back: anything else is not smmud's. */
		if (state_entry_check(e, &reason) < 0) {
			log_error("State file entry %s %s %s %s: %s; not restored.", e->smmu, e->attr,
				  e->original, e->written, reason);
			continue;
		}
		k = knobs_get(ks, e->smmu, (KnobAttr)knob_attr_from_string(e->attr));
		if (!k)
			return log_oom();
		r = knobs_read(ks, k);
		if (r < 0) {
			log_warning_errno(r, "%s/%s: cannot read (%m); cannot restore %s.", e->smmu,
					  e->attr, e->original);
			continue;
		}
		if (streq(k->current, e->original)) {
			log_debug("%s/%s: already at its original %s.", e->smmu, e->attr, e->original);
			continue;
		}
		if (!streq(k->current, e->written)) {
			log_change(LOG_WARNING, k, "recover-skip", e->written, k->current,
				   "now %s, not the %s smmud wrote (or armed): someone changed it "
				   "since; leaving it (original was %s).",
				   k->current, e->written, e->original);
			emit(ks, k, "recover-skip", e->written, k->current,
			     "changed since the run that wrote it; left alone");
			continue;
		}
		if (ks->dry_run) {
			log_change(LOG_NOTICE, k, "recover", k->current, e->original,
				   "dry run: would restore %s.", e->original);
			emit_dry_run(ks, k, "restore", k->current, e->original, "recover");
			continue;
		}
		/* Adopt the hold, then end it the normal way. */
		if (free_and_strdup(&k->original, e->original) < 0 ||
		    free_and_strdup(&k->written, e->written) < 0 ||
		    state_set(ks->state, k->smmu, e->attr, e->original, e->written) < 0)
			return log_oom();
		r = knobs_restore(ks, k, "recover");
		if (r < 0 && ret == 0)
			ret = r;
	}
	r = save_state(ks);
	return ret < 0 ? ret : r;
}
