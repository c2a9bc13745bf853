/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The names of smmud's control API, shared by the server (bus.c) and its
 * client (smmuctl).  The interface itself is documented in smmud(8) and
 * shown whole by "busctl introspect org.smmud1 /org/smmud1".
 */

#define SMMUD_BUS_NAME "org.smmud1"
#define SMMUD_BUS_PATH "/org/smmud1"
#define SMMUD_BUS_INTERFACE "org.smmud1.Manager"

/* Always served, with or without a bus daemon. */
#define SMMUD_RUNTIME_DIR "/run/smmud"
#define SMMUD_PRIVATE_SOCKET SMMUD_RUNTIME_DIR "/private"

/* Errors beyond the standard org.freedesktop.DBus.Error.* ones. */
#define SMMUD_ERROR_NO_SUCH_SMMU "org.smmud1.Error.NoSuchSmmu"
#define SMMUD_ERROR_CONFIG_INVALID "org.smmud1.Error.ConfigInvalid"
#define SMMUD_ERROR_NOT_WRITABLE "org.smmud1.Error.NotWritable"
/* The change was taken, but a knob could not be brought to it (the kernel said no). */
#define SMMUD_ERROR_WRITE_FAILED "org.smmud1.Error.WriteFailed"

/* The knobs, as the API and smmuctl name them. */
#define SMMUD_KNOB_THRESHOLD "threshold"
#define SMMUD_KNOB_TEARDOWN_MODE "teardown-mode"
