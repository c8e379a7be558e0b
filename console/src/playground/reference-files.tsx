/**
 * Reference images from local files: dropped on the playground's drop zone or chosen
 * with its button, checked here (by their first bytes, as the server does, and against
 * the server's size cap), uploaded with the playground's key to the file API
 * (POST /api/v1/files/upload/stream) and shown as thumbnails; each upload's `file_url`
 * joins the request's `image_urls`. The server has the last word: its refusal's `msg`
 * is shown as it is.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { fileApi, HttpError } from "../api";
import { bytes as bytesText, errorText } from "../format";
import { sniffImageFormat } from "../../../src/media/image-format.js";

const ACCEPTED = ["jpeg", "png", "gif", "webp"];
/** The `accept` of the file picker: a hint to the chooser; the bytes decide. */
const ACCEPT_TYPES = "image/jpeg,image/png,image/gif,image/webp";

export interface ReferenceFile {
  /** This page's own id for the entry (the server's file_id comes with the upload). */
  id: number;
  name: string;
  /** A blob: URL of the local file, for the thumbnail (revoked on removal). */
  preview: string | null;
  status: "uploading" | "uploaded" | "refused";
  fileUrl?: string;
  error?: string;
}

interface UploadedFile {
  file_id: string;
  file_url: string;
}

interface FileQuota {
  max_file_bytes: number;
}

export interface ReferenceFiles {
  items: ReferenceFile[];
  /** The uploaded files' links, in the order they were added. */
  urls: string[];
  uploading: boolean;
  /** Checks and uploads files; beyond `room` more reference images, they are refused. */
  add(files: File[], room: number, limits: { maxRefs: number; modelMaxBytes?: number }): void;
  remove(id: number): void;
}

/** The reason a file is refused before any upload, or null when it may go. */
export async function localRefusal(file: File, maxBytes: number | null): Promise<string | null> {
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const format = sniffImageFormat(head);
  if (!format || !ACCEPTED.includes(format))
    return `${file.name} is not a JPEG, PNG, GIF or WebP image (judged by its content, not its name).`;
  if (maxBytes !== null && file.size > maxBytes)
    return `${file.name} is ${bytesText(file.size)}; at most ${bytesText(maxBytes)} is accepted.`;
  return null;
}

/** The uploads of one playground, with the key they are made with. */
export function useReferenceFiles(apiKey: string | null): ReferenceFiles {
  const [items, setItems] = useState<ReferenceFile[]>([]);
  const nextId = useRef(1);
  /** The server's per-file cap, per key: null when the server does not say (it then refuses). */
  const caps = useRef(new Map<string, Promise<number | null>>());
  const previews = useRef(new Set<string>());
  useEffect(
    () => () => {
      previews.current.forEach((u) => URL.revokeObjectURL(u));
    },
    [],
  );

  const update = (id: number, change: Partial<ReferenceFile>) =>
    setItems((xs) => xs.map((x) => (x.id === id ? { ...x, ...change } : x)));

  /** A refused file keeps its line (with the reason) but not its thumbnail. */
  function refuse(id: number, error: string) {
    setItems((xs) =>
      xs.map((x) => {
        if (x.id !== id) return x;
        forget(x.preview);
        return { ...x, status: "refused", error, preview: null };
      }),
    );
  }

  function forget(preview: string | null) {
    if (!preview) return;
    URL.revokeObjectURL(preview);
    previews.current.delete(preview);
  }

  function serverCap(key: string): Promise<number | null> {
    let cap = caps.current.get(key);
    if (!cap) {
      cap = fileApi<FileQuota>("/quota", key).then(
        (q) => (typeof q?.max_file_bytes === "number" ? q.max_file_bytes : null),
        () => null,
      );
      caps.current.set(key, cap);
    }
    return cap;
  }

  async function upload(id: number, file: File, key: string, modelMaxBytes?: number) {
    try {
      const server = await serverCap(key);
      const limits = [server, modelMaxBytes ?? null].filter((c): c is number => c !== null);
      const refusal = await localRefusal(file, limits.length ? Math.min(...limits) : null);
      if (refusal) return refuse(id, refusal);
      const body = new FormData();
      body.append("fileName", file.name);
      body.append("file", file, file.name);
      const up = await fileApi<UploadedFile>("/upload/stream", key, { body });
      update(id, { status: "uploaded", fileUrl: up.file_url });
    } catch (err) {
      const msg = err instanceof HttpError ? `${err.message} (HTTP ${err.status})` : errorText(err);
      refuse(id, `${file.name}: ${msg}`);
    }
  }

  function add(files: File[], room: number, limits: { maxRefs: number; modelMaxBytes?: number }) {
    const added: ReferenceFile[] = [];
    let left = room;
    for (const file of files) {
      const id = nextId.current++;
      if (!apiKey) {
        added.push({
          id,
          name: file.name,
          preview: null,
          status: "refused",
          error: "Set an API key first: uploads are made with it.",
        });
        continue;
      }
      if (left <= 0) {
        added.push({
          id,
          name: file.name,
          preview: null,
          status: "refused",
          error: `${file.name}: at most ${limits.maxRefs} reference images for this model.`,
        });
        continue;
      }
      left--;
      const preview = URL.createObjectURL(file);
      previews.current.add(preview);
      added.push({ id, name: file.name, preview, status: "uploading" });
      void upload(id, file, apiKey, limits.modelMaxBytes);
    }
    setItems((xs) => [...xs, ...added]);
  }

  function remove(id: number) {
    setItems((xs) => {
      forget(xs.find((x) => x.id === id)?.preview ?? null);
      return xs.filter((x) => x.id !== id);
    });
  }

  return {
    items,
    urls: items.flatMap((x) => (x.status === "uploaded" && x.fileUrl ? [x.fileUrl] : [])),
    uploading: items.some((x) => x.status === "uploading"),
    add,
    remove,
  };
}

/** The drop zone, the keyboard-reachable picker button, and the list of files with remove. */
export function ReferenceFilesField(props: {
  refs: ReferenceFiles;
  /** How many more reference images the request may take now. */
  room: number;
  maxRefs: number;
  modelMaxBytes?: number;
}) {
  const { refs } = props;
  const input = useRef<HTMLInputElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const [dragging, setDragging] = useState(false);
  // A file dropped beside the zone would make the browser open it, leaving the page and
  // the key held in its memory: such drops are ignored instead.
  useEffect(() => {
    const ignore = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
    };
    window.addEventListener("dragover", ignore);
    window.addEventListener("drop", ignore);
    return () => {
      window.removeEventListener("dragover", ignore);
      window.removeEventListener("drop", ignore);
    };
  }, []);
  const take = (list: FileList | null | undefined) => {
    if (list && list.length > 0)
      refs.add([...list], props.room, {
        maxRefs: props.maxRefs,
        modelMaxBytes: props.modelMaxBytes,
      });
  };

  return (
    <div class="field">
      <span class="label" id="pg-files-label">
        Reference image files
      </span>
      <div
        class={`dropzone${dragging ? " dragging" : ""}`}
        data-testid="dropzone"
        onDragEnter={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          take(e.dataTransfer?.files);
        }}
      >
        <p>Drop JPEG, PNG, GIF or WebP images here, or</p>
        <button
          type="button"
          class="secondary"
          ref={button}
          aria-describedby="pg-files-hint"
          onClick={() => input.current?.click()}
        >
          Choose image files…
        </button>
        <input
          ref={input}
          id="pg-files"
          type="file"
          class="sr-only"
          tabIndex={-1}
          aria-labelledby="pg-files-label"
          accept={ACCEPT_TYPES}
          multiple
          onChange={(e) => {
            take(e.currentTarget.files);
            // The same file chosen again must fire change again.
            e.currentTarget.value = "";
          }}
        />
      </div>
      <small class="hint" id="pg-files-hint">
        Uploaded with the key above to the file API; their links are added to image_urls. A removed
        file stays on the server until it expires (a task may still read it).
      </small>
      {refs.items.length > 0 && (
        <ul class="references" aria-label="Chosen reference images" aria-live="polite">
          {refs.items.map((x) => (
            <li key={x.id} data-status={x.status} data-file-url={x.fileUrl}>
              {x.preview && <img src={x.preview} alt={`Reference image ${x.name}`} />}
              <span class="break">
                {x.name}{" "}
                <span class="muted">
                  {x.status === "uploading"
                    ? "uploading…"
                    : x.status === "uploaded"
                      ? "uploaded"
                      : ""}
                </span>
              </span>
              {x.error && (
                <small class="problem" role="alert">
                  {x.error}
                </small>
              )}
              <button
                type="button"
                class="secondary small"
                aria-label={`Remove ${x.name}`}
                onClick={() => {
                  refs.remove(x.id);
                  // The removed button had the focus: give it to the picker, not the page.
                  button.current?.focus();
                }}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
