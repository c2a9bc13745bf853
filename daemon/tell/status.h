/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The one line that says how smmud is doing ("2 of 2 SMMU(s) managed, 0
 * in storm; 14 VM(s)."): systemd's STATUS=, the D-Bus Status property.
 * Pure.
 */

#include "view.h"

/* The line for v (v->status is not read), malloc'd. */
int status_format(const DaemonView *v, char **ret);
