/**
 * The data converter every gaplab client and worker uses: Temporal's default JSON payloads, with
 * payloads larger than COMPRESS_ABOVE_BYTES stored compressed (zlib).
 *
 * A campaign's large payloads (the strategy views, which carry every trial so far; batches of
 * trial records; the report; the state carried across continue-as-new) are JSON with the same
 * keys over and over, and compress to a fifth or less. Temporal counts a history's size in stored
 * bytes and suggests continuing as new at 4 MiB, so compression lets a campaign run several times
 * as many trials per workflow run: fewer drains, less idle slot time (measured:
 * docs/decisions/0006-large-payloads-compressed.md). Small payloads (signals, seed results,
 * status) stay plain JSON, readable in the Temporal UI and CLI.
 *
 * Reading a history without gaplab (Temporal UI, `temporal workflow show`), a compressed payload
 * shows as `binary/zlib`; `decodePayload` (and every gaplab client) reads both forms, so payloads
 * written before compression existed still decode.
 */
import { promisify } from 'node:util';
import { deflate, inflate } from 'node:zlib';
import {
  defaultPayloadConverter,
  METADATA_ENCODING_KEY,
  type DataConverter,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
import proto from '@temporalio/proto';

const deflateAsync = promisify(deflate);
const inflateAsync = promisify(inflate);

/** The encoding of a compressed payload: zlib over the serialized original Payload. */
export const COMPRESSED_ENCODING = 'binary/zlib';
/** Payloads up to this many bytes of data stay as they are. */
export const COMPRESS_ABOVE_BYTES = 8 * 1024;

// CommonJS: the namespace comes through the default export under Node's ESM loader.
const ProtoPayload = proto.temporal.api.common.v1.Payload;
const encodingOf = (p: Payload): string | undefined => {
  const e = p.metadata?.[METADATA_ENCODING_KEY];
  return e ? Buffer.from(e).toString('utf8') : undefined;
};

/** Compresses large payloads; decodes compressed and plain payloads alike. */
export class CompressionCodec implements PayloadCodec {
  constructor(private readonly above = COMPRESS_ABOVE_BYTES) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (p) => {
        if ((p.data?.length ?? 0) <= this.above || encodingOf(p) === COMPRESSED_ENCODING) return p;
        const packed = await deflateAsync(ProtoPayload.encode(p).finish());
        // Kept plain when compression does not pay (already compressed or random bytes).
        if (packed.length >= (p.data?.length ?? 0)) return p;
        return {
          metadata: { [METADATA_ENCODING_KEY]: Buffer.from(COMPRESSED_ENCODING) },
          data: new Uint8Array(packed.buffer, packed.byteOffset, packed.length),
        };
      }),
    );
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (p) => {
        if (encodingOf(p) !== COMPRESSED_ENCODING) return p;
        if (!p.data) throw new Error(`a ${COMPRESSED_ENCODING} payload without data`);
        const inner = ProtoPayload.decode(await inflateAsync(p.data));
        return { metadata: inner.metadata ?? {}, data: inner.data ?? new Uint8Array() };
      }),
    );
  }
}

const codec = new CompressionCodec();

/** For Client, Worker, TestWorkflowEnvironment and replay: `{ dataConverter }`. */
export const dataConverter: DataConverter = { payloadCodecs: [codec] };

/** One payload as stored in a history (compressed or not) to its value. */
export async function decodePayload(payload: Payload): Promise<unknown> {
  const [plain] = await codec.decode([payload]);
  return defaultPayloadConverter.fromPayload(plain!);
}
