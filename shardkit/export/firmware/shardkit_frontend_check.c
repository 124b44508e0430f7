/*
 * shardkit_frontend_check.c: the C frontend on a host, for checking it against the bundle's
 * validation vectors. Reads float32 chunks (SHARDKIT_CHUNK_SAMPLES each, native byte order)
 * from argv[1] and writes their features (SHARDKIT_OUT_FLOATS float32 each) to argv[2].
 * Exits 0 when every chunk was computed; prints the frontend's error code and exits 3 otherwise.
 *
 *   cc -std=c99 -O2 -Wall -I. shardkit_frontend_check.c shardkit_frontend.c -o frontend_check -lm
 */
#include <stdio.h>
#include <stdlib.h>

#include "shardkit_frontend.h"

int main(int argc, char **argv)
{
    static float chunk[SHARDKIT_CHUNK_SAMPLES], out[SHARDKIT_OUT_FLOATS], work[SHARDKIT_WORK_FLOATS];
    FILE *in, *dest;
    int rc = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s CHUNKS.f32 FEATURES.f32\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    dest = fopen(argv[2], "wb");
    if (in == NULL || dest == NULL) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    while (fread(chunk, sizeof(float), SHARDKIT_CHUNK_SAMPLES, in) == SHARDKIT_CHUNK_SAMPLES) {
        rc = shardkit_frontend(chunk, out, work);
        if (rc != SHARDKIT_OK) {
            fprintf(stderr, "shardkit_frontend returned %d\n", rc);
            break;
        }
        fwrite(out, sizeof(float), SHARDKIT_OUT_FLOATS, dest);
    }
    fclose(in);
    fclose(dest);
    return rc == SHARDKIT_OK ? 0 : 3;
}
