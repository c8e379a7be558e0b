/**
 * One Ark image item → bytes we can store: base64 decoded, or the `url` downloaded at
 * once (Ark's links live 24 h; ours must outlive them). The URL comes from the
 * operator's trusted upstream, so it is fetched with undici directly (not net/, which
 * is for URLs users choose), under a byte cap and the call's abort signal.
 * The bytes are probed (header only) for the real format and dimensions: `size` is
 * what the upstream says, the file is what we serve.
 */
import { request, type Dispatcher } from "undici";
import { probeImage } from "../../media/probe.js";

/** One image of the set could not be turned into a stored file. */
export class ArkImageError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "ArkImageError";
  }
}

export interface MaterialisedImage {
  data: Buffer;
  contentType: string;
  width: number;
  height: number;
}

export async function fetchArkImage(
  url: string,
  maxBytes: number,
  signal: AbortSignal,
  dispatcher?: Dispatcher,
): Promise<Buffer> {
  const res = await request(url, { method: "GET", signal, ...(dispatcher ? { dispatcher } : {}) });
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    throw new ArkImageError(`image download answered HTTP ${res.statusCode}`);
  }
  const declared = Number(res.headers["content-length"]);
  if (declared > maxBytes) {
    res.body.destroy();
    throw new ArkImageError("image download is too large");
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      res.body.destroy();
      throw new ArkImageError("image download is too large");
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

export async function materialiseArkImage(
  item: { b64?: string; url?: string },
  opts: { maxBytes: number; signal: AbortSignal; dispatcher?: Dispatcher },
): Promise<MaterialisedImage> {
  let data: Buffer;
  if (item.b64 !== undefined) {
    if (Math.floor((item.b64.length * 3) / 4) > opts.maxBytes)
      throw new ArkImageError("inline image is too large");
    data = Buffer.from(item.b64, "base64");
  } else if (item.url !== undefined) {
    data = await fetchArkImage(item.url, opts.maxBytes, opts.signal, opts.dispatcher);
  } else {
    throw new ArkImageError("image item has neither b64_json nor url");
  }
  const probed = probeImage(data);
  if (!probed) throw new ArkImageError("image bytes are not a JPEG, PNG or WebP image");
  return { data, ...probed };
}
