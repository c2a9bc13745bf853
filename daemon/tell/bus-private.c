// SPDX-License-Identifier: GPL-2.0-or-later
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "bus-private.h"
#include "log.h"
#include "util.h"

typedef struct PrivateConnection {
	sd_bus *bus;
	uid_t uid;
	gid_t gid;
} PrivateConnection;

struct BusPrivate {
	sd_event *event;
	sd_event_source *listen_source;
	int listen_fd;
	char *path;
	BusPrivateSetup setup;
	void *userdata;
	PrivateConnection connections[BUS_PRIVATE_CONNECTIONS_MAX];
	size_t n_connections;
	uint64_t next_id;
};

static void connection_drop(BusPrivate *p, size_t i)
{
	sd_bus_flush_close_unref(p->connections[i].bus);
	p->connections[i] = p->connections[--p->n_connections];
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	BusPrivate *p = userdata;
	sd_bus *bus = sd_bus_message_get_bus(m);

	for (size_t i = 0; i < p->n_connections; i++)
		if (p->connections[i].bus == bus) {
			log_debug("Private connection closed.");
			connection_drop(p, i);
			break;
		}
	return 0;
}

static int connection_setup(BusPrivate *p, int fd, const struct ucred *cred, sd_bus **ret)
{
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	sd_id128_t id;
	int r;

	r = sd_bus_new(&bus);
	if (r < 0)
		return log_warning_errno(r, "Failed to allocate a private connection: %m");
	r = sd_bus_set_fd(bus, fd, fd);
	if (r < 0)
		return log_warning_errno(r, "Failed to set the private connection's fd: %m");
	/* Any server id will do: only this connection sees it. */
	id = (sd_id128_t){ .qwords = { p->next_id, (uint64_t)cred->pid } };
	r = sd_bus_set_server(bus, 1, id);
	if (r >= 0)
		/* The credentials that count are the socket's, not the auth claim. */
		r = sd_bus_set_anonymous(bus, true);
	if (r >= 0)
		r = sd_bus_set_sender(bus, "org.smmud1");
	if (r >= 0)
		r = sd_bus_set_description(bus, "private-connection");
	if (r < 0)
		return log_warning_errno(r, "Failed to set up the private connection: %m");
	r = sd_bus_match_signal(bus, NULL, NULL, "/org/freedesktop/DBus/Local",
				"org.freedesktop.DBus.Local", "Disconnected", on_disconnected, p);
	if (r < 0)
		return log_warning_errno(r, "Failed to watch the private connection: %m");
	r = p->setup(bus, p->userdata);
	if (r < 0)
		return r;
	r = sd_bus_start(bus);
	if (r < 0)
		return log_warning_errno(r, "Failed to start the private connection: %m");
	r = sd_bus_attach_event(bus, p->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return log_warning_errno(r, "Failed to attach the private connection: %m");
	*ret = TAKE_PTR(bus);
	return 0;
}

static int on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	BusPrivate *p = userdata;
	_cleanup_close_ int nfd = -1;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	sd_bus *bus = NULL;
	int r;

	nfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (nfd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		log_warning_errno(negative_errno(), "Failed to accept a private connection: %m");
		return 0;
	}
	if (p->n_connections >= BUS_PRIVATE_CONNECTIONS_MAX) {
		log_warning("Too many private connections (%d), refusing one.",
			    BUS_PRIVATE_CONNECTIONS_MAX);
		return 0;
	}
	if (getsockopt(nfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warning_errno(negative_errno(), "Failed to get a private peer's credentials: %m");
		return 0;
	}
	p->next_id++;
	r = connection_setup(p, nfd, &cred, &bus);
	/* sd-bus owns the fd from sd_bus_set_fd() on, success or not. */
	TAKE_FD(nfd);
	if (r < 0)
		return 0;
	p->connections[p->n_connections++] = (PrivateConnection){
		.bus = bus,
		.uid = cred.uid,
		.gid = cred.gid,
	};
	log_debug("Private connection from PID %d (UID %u).", (int)cred.pid, (unsigned)cred.uid);
	return 0;
}

int bus_private_new(sd_event *event, const char *path, BusPrivateSetup setup, void *userdata,
		    BusPrivate **ret)
{
	_cleanup_(bus_private_freep) BusPrivate *p = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG), "Socket path too long: %s",
				       path);
	memcpy(sa.sun_path, path, strlen(path));

	p = calloc(1, sizeof(*p));
	if (!p)
		return log_oom();
	p->listen_fd = -1;
	p->event = sd_event_ref(event);
	p->setup = setup;
	p->userdata = userdata;
	p->path = strdup(path);
	if (!p->path)
		return log_oom();

	/* Replace a socket left by a crashed run, never anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return log_error_errno(SYNTHETIC_ERRNO(EEXIST),
					       "%s exists and is not a socket, refusing", path);
		if (unlink(path) < 0)
			return log_error_errno(negative_errno(), "Failed to remove stale %s: %m", path);
	}

	p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->listen_fd < 0)
		return log_error_errno(negative_errno(), "Failed to create the private socket: %m");
	if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return log_error_errno(negative_errno(), "Failed to bind %s: %m", path);
	if (chmod(path, 0666) < 0)
		return log_error_errno(negative_errno(), "Failed to set the mode of %s: %m", path);
	if (listen(p->listen_fd, SOMAXCONN) < 0)
		return log_error_errno(negative_errno(), "Failed to listen on %s: %m", path);
	r = sd_event_add_io(event, &p->listen_source, p->listen_fd, EPOLLIN, on_connection, p);
	if (r >= 0)
		r = sd_event_source_set_description(p->listen_source, "private-bus-listen");
	if (r < 0)
		return log_error_errno(r, "Failed to watch %s: %m", path);

	*ret = TAKE_PTR(p);
	return 0;
}

BusPrivate *bus_private_free(BusPrivate *p)
{
	if (!p)
		return NULL;
	while (p->n_connections > 0)
		connection_drop(p, p->n_connections - 1);
	sd_event_source_disable_unref(p->listen_source);
	if (p->listen_fd >= 0) {
		close(p->listen_fd);
		(void)unlink(p->path);
	}
	sd_event_unref(p->event);
	free(p->path);
	free(p);
	return NULL;
}

void bus_private_foreach(BusPrivate *p, BusPrivateVisit visit, void *userdata)
{
	for (size_t i = 0; p && i < p->n_connections; i++)
		visit(p->connections[i].bus, p->connections[i].uid, p->connections[i].gid, userdata);
}

size_t bus_private_n_connections(const BusPrivate *p)
{
	return p ? p->n_connections : 0;
}
