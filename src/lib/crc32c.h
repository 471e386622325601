/* CRC-32C (Castagnoli), the checksum of every migration stream frame. Uses the
 * SSE4.2 instruction where the CPU has it, a table otherwise; both give the same
 * values. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Continues crc over len bytes; start with crc = 0. */
uint32_t flyt_crc32c(uint32_t crc, const void *data, size_t len);
