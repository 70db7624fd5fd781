import { decompress as zstdDecompress } from 'fzstd';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';

// No type declarations: a factory of { compress(encoder), decompress(buffer) }, as KafkaJS's codecs are (snappy, and
// the xerial framing Java producers write).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SnappyCodec: () => Codec = require('kafkajs-snappy');

/** A KafkaJS compression codec: what it compresses a batch's records with and reads them back with. */
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** LZ4 frames, as Kafka writes them (KafkaLZ4BlockOutputStream: the LZ4 frame format). */
const lz4: () => Codec = () => ({
  compress: async (encoder) => compressFrame(encoder.buffer),
  decompress: async (buffer) => decompressFrame(buffer),
});

/** Zstandard frames: read only (fzstd decompresses in JavaScript, no native build); the platform never writes them. */
const zstd: () => Codec = () => ({
  compress: async () => {
    throw new Error('zstd: this platform reads zstd batches but does not write them (its producers send uncompressed)');
  },
  decompress: async (buffer) => {
    const out = zstdDecompress(buffer);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  },
});

let registered = false;

/**
 * Registers the codecs KafkaJS does not bring (it reads gzip only): a batch compressed with snappy, lz4 or zstd (by an
 * outside producer, or by the broker for a topic whose `compression.type` says so) would otherwise throw
 * KafkaJSNotImplemented while the fetch is decoded, crashing the consumer on every restart, on every topic it reads.
 */
export function registerCompressionCodecs(): void {
  if (registered) return;
  registered = true;
  const codecs = CompressionCodecs as unknown as Record<number, () => Codec>;
  codecs[CompressionTypes.Snappy] = SnappyCodec;
  codecs[CompressionTypes.LZ4] = lz4;
  codecs[CompressionTypes.ZSTD] = zstd;
}
