#pragma once
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the SHA extensions (and SSE4.1) that
/// aegis_sha256_blocks uses; 0 otherwise. Asked of CPUID once.
int aegis_sha256_hardware(void);

/// Compresses `blocks` 64-byte blocks of `data` into `state` (SHA-256's eight
/// working words, as FIPS 180-4 orders them) with the SHA extensions.
/// Call only when aegis_sha256_hardware() is 1.
void aegis_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);
