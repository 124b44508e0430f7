/*
 * shardkit_frontend.c: portable C99 reference of shardkit's spectrogram contract.
 * See shardkit_frontend.h for the contract and the API. libm only; float32 arithmetic
 * (the window and twiddle factors are computed once per call in double, then rounded).
 */
#include "shardkit_frontend.h"

#include <math.h>
#include <stddef.h>

#if (SHARDKIT_N_FFT) < 4 || ((SHARDKIT_N_FFT) & ((SHARDKIT_N_FFT) - 1)) != 0
#error "SHARDKIT_N_FFT must be a power of two >= 4"
#endif
#if SHARDKIT_FRONTEND < SHARDKIT_FRONTEND_HYBRID || SHARDKIT_FRONTEND > SHARDKIT_FRONTEND_RAW
#error "SHARDKIT_FRONTEND must be 1 (hybrid), 2 (mel), 3 (mfcc) or 4 (raw)"
#endif
#if SHARDKIT_COMPRESSION < SHARDKIT_COMPRESSION_NONE || SHARDKIT_COMPRESSION > SHARDKIT_COMPRESSION_LOG
#error "SHARDKIT_COMPRESSION must be 0 (none), 1 (sqrt) or 2 (log)"
#endif

#define HALF ((SHARDKIT_N_FFT) / 2)
#define PI_D 3.14159265358979323846

#if SHARDKIT_FRONTEND == SHARDKIT_FRONTEND_MEL || SHARDKIT_FRONTEND == SHARDKIT_FRONTEND_MFCC
/* sparse Slaney mel filters: band m weighs bins [start[m], start[m] + length[m]) */
static const int mel_start[SHARDKIT_N_MELS] = SHARDKIT_MEL_START;
static const int mel_length[SHARDKIT_N_MELS] = SHARDKIT_MEL_LENGTH;
static const float mel_weights[SHARDKIT_MEL_NNZ] = SHARDKIT_MEL_WEIGHTS;
#endif
#if SHARDKIT_FRONTEND == SHARDKIT_FRONTEND_MFCC
static const float dct_basis[SHARDKIT_N_MFCC * SHARDKIT_N_MELS] = SHARDKIT_DCT;
#endif

#if SHARDKIT_FRONTEND != SHARDKIT_FRONTEND_RAW
/* In-place iterative radix-2 complex FFT of n = N_FFT / 2 interleaved (re, im) values;
 * twiddle k of the n-point transform is (tw_cos[2k], -tw_sin[2k]) of the N_FFT-point one. */
static void complex_fft(float *z, const float *tw_cos, const float *tw_sin)
{
    const size_t n = HALF;
    size_t i, j = 0, len;
    for (i = 1; i < n; i++) { /* bit reversal */
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1) {
            j ^= bit;
        }
        j ^= bit;
        if (i < j) {
            float t = z[2 * i];
            z[2 * i] = z[2 * j];
            z[2 * j] = t;
            t = z[2 * i + 1];
            z[2 * i + 1] = z[2 * j + 1];
            z[2 * j + 1] = t;
        }
    }
    for (len = 2; len <= n; len <<= 1) {
        const size_t stride = (SHARDKIT_N_FFT) / len; /* index step in the N_FFT-point table */
        size_t start, k;
        for (start = 0; start < n; start += len) {
            for (k = 0; k < len / 2; k++) {
                const float wr = tw_cos[k * stride], wi = -tw_sin[k * stride];
                float *a = z + 2 * (start + k), *b = z + 2 * (start + k + len / 2);
                const float br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                b[0] = a[0] - br;
                b[1] = a[1] - bi;
                a[0] += br;
                a[1] += bi;
            }
        }
    }
}

/* |X[k]| for k < N_FFT/2 of the real frame packed as z[j] = x[2j] + i x[2j+1] (its FFT
 * in place), by the split of the half-size transform into even and odd parts. */
static void real_fft_magnitude(float *z, const float *tw_cos, const float *tw_sin, float *magnitude)
{
    size_t k;
    complex_fft(z, tw_cos, tw_sin);
    magnitude[0] = fabsf(z[0] + z[1]); /* DC: sum of evens + sum of odds */
    for (k = 1; k < HALF; k++) {
        const float ar = z[2 * k], ai = z[2 * k + 1];
        const float cr = z[2 * (HALF - k)], ci = -z[2 * (HALF - k) + 1]; /* conj(Z[n - k]) */
        const float er = 0.5f * (ar + cr), ei = 0.5f * (ai + ci);        /* even part */
        const float or_ = 0.5f * (ai - ci), oi = -0.5f * (ar - cr);      /* odd part: (Z - conj) / 2i */
        const float wr = tw_cos[k], wi = -tw_sin[k];
        const float xr = er + or_ * wr - oi * wi, xi = ei + or_ * wi + oi * wr;
        magnitude[k] = sqrtf(xr * xr + xi * xi);
    }
}

/* Frame t's windowed samples (chunk index t*hop - n_fft/2 + j, zero outside) packed into z. */
static void load_frame(const float *chunk, long t, const float *window, float *z)
{
    const long first = t * (long)(SHARDKIT_HOP) - (long)HALF;
    long j;
    for (j = 0; j < (long)(SHARDKIT_N_FFT); j++) {
        const long index = first + j;
        z[j] = (index >= 0 && index < (long)(SHARDKIT_CHUNK_SAMPLES)) ? chunk[index] * window[j] : 0.0f;
    }
}

/* One frame's rows (before compression) into out[r * W + t]; mfcc rows are final values. */
static void frame_rows(const float *magnitude, float *bands, float *out, long t)
{
#if SHARDKIT_FRONTEND == SHARDKIT_FRONTEND_HYBRID
    long f;
    (void)bands;
    for (f = 0; f < HALF; f++) {
        out[f * (SHARDKIT_N_FRAMES) + t] = magnitude[f];
    }
#else
    long m, f, w = 0;
#if SHARDKIT_FRONTEND == SHARDKIT_FRONTEND_MEL
    (void)bands;
#endif
    for (m = 0; m < SHARDKIT_N_MELS; m++) {
        float sum = 0.0f;
        for (f = 0; f < mel_length[m]; f++) {
            sum += mel_weights[w++] * magnitude[mel_start[m] + f];
        }
#if SHARDKIT_FRONTEND == SHARDKIT_FRONTEND_MEL
        out[m * (SHARDKIT_N_FRAMES) + t] = sum;
#else
        bands[m] = logf(sum * sum + (float)(SHARDKIT_LOG_EPS));
#endif
    }
#if SHARDKIT_FRONTEND == SHARDKIT_FRONTEND_MFCC
    for (m = 0; m < SHARDKIT_N_MFCC; m++) {
        float sum = 0.0f;
        for (f = 0; f < SHARDKIT_N_MELS; f++) {
            sum += dct_basis[m * SHARDKIT_N_MELS + f] * bands[f];
        }
        out[m * (SHARDKIT_N_FRAMES) + t] = sum;
    }
#endif
#endif
}

/* The configured compression, in place, then min-max to [0, 1]. */
static void compress_and_normalise(float *out, size_t count)
{
    size_t i;
    float low, high, scale;
#if SHARDKIT_COMPRESSION == SHARDKIT_COMPRESSION_LOG && SHARDKIT_FRONTEND != SHARDKIT_FRONTEND_MFCC
    float peak = out[0], floor_value;
    for (i = 1; i < count; i++) {
        peak = out[i] > peak ? out[i] : peak;
    }
    floor_value = peak * (float)(SHARDKIT_LOG_FLOOR_RATIO);
    if (floor_value < (float)(SHARDKIT_LOG_FLOOR_ABS)) {
        floor_value = (float)(SHARDKIT_LOG_FLOOR_ABS);
    }
    for (i = 0; i < count; i++) {
        out[i] = logf(out[i] > floor_value ? out[i] : floor_value);
    }
#elif SHARDKIT_COMPRESSION == SHARDKIT_COMPRESSION_SQRT && SHARDKIT_FRONTEND != SHARDKIT_FRONTEND_MFCC
    for (i = 0; i < count; i++) {
        out[i] = sqrtf(out[i]);
    }
#endif
    low = high = out[0];
    for (i = 1; i < count; i++) {
        low = out[i] < low ? out[i] : low;
        high = out[i] > high ? out[i] : high;
    }
    scale = 1.0f / (high - low + (float)(SHARDKIT_NORM_EPS));
    for (i = 0; i < count; i++) {
        out[i] = (out[i] - low) * scale;
    }
}

#endif /* SHARDKIT_FRONTEND != SHARDKIT_FRONTEND_RAW */

int shardkit_frontend(const float *chunk, float *out, float *work)
{
    long i;
    if (chunk == NULL || out == NULL || work == NULL) {
        return SHARDKIT_ERR_NULL;
    }
    for (i = 0; i < (long)(SHARDKIT_CHUNK_SAMPLES); i++) {
        if (!isfinite(chunk[i])) {
            return SHARDKIT_ERR_NONFINITE;
        }
    }
#if SHARDKIT_FRONTEND == SHARDKIT_FRONTEND_RAW
    for (i = 0; i < (long)(SHARDKIT_CHUNK_SAMPLES); i++) {
        out[i] = chunk[i];
    }
    (void)work;
    return SHARDKIT_OK;
#else
    {
        float *window = work;                           /* N_FFT */
        float *tw_cos = window + SHARDKIT_N_FFT;        /* N_FFT / 2 */
        float *tw_sin = tw_cos + HALF;                  /* N_FFT / 2 */
        float *z = tw_sin + HALF;                       /* N_FFT: N_FFT / 2 complex values */
        float *magnitude = z + SHARDKIT_N_FFT;          /* N_FFT / 2 */
        float *bands = magnitude + HALF;                /* N_MELS */
        long t;
        for (i = 0; i < (long)(SHARDKIT_N_FFT); i++) { /* periodic Hann */
            window[i] = (float)(0.5 - 0.5 * cos(2.0 * PI_D * (double)i / (double)(SHARDKIT_N_FFT)));
        }
        for (i = 0; i < (long)HALF; i++) {
            tw_cos[i] = (float)cos(2.0 * PI_D * (double)i / (double)(SHARDKIT_N_FFT));
            tw_sin[i] = (float)sin(2.0 * PI_D * (double)i / (double)(SHARDKIT_N_FFT));
        }
        for (t = 0; t < (long)(SHARDKIT_N_FRAMES); t++) {
            load_frame(chunk, t, window, z);
            real_fft_magnitude(z, tw_cos, tw_sin, magnitude);
            frame_rows(magnitude, bands, out, t);
        }
        compress_and_normalise(out, (size_t)(SHARDKIT_ROWS) * (size_t)(SHARDKIT_N_FRAMES));
        return SHARDKIT_OK;
    }
#endif
}
