/**
 * The fonts the sandbox draws with, all shipped in node_modules (nothing from the
 * system, nothing downloaded):
 *
 * - DejaVu Sans (dejavu-fonts-ttf): Latin, Greek, Cyrillic, Hebrew, Arabic, symbols.
 * - Noto Emoji (@expo-google-fonts/noto-emoji): emoji, monochrome, so they take the
 *   text colour like every other glyph.
 * - UnifontEX (@fontsource/unifontex): a Unifont-style font covering the whole Basic
 *   Multilingual Plane and more: Chinese, Japanese, Korean and every other script the
 *   first two lack. Pixel-style glyphs, but one 3 MB file instead of ~100 MB of
 *   per-language outline fonts. It ships only as WOFF, which sharp's FreeType cannot
 *   read, so it is unwrapped once (lossless, see woff.ts) into the OS temp directory.
 *
 * How they reach Pango: libvips adds the file given as a text input's `fontfile` to
 * fontconfig's application font set, once per process, for every later render too. So
 * `sandboxFontsReady()` draws one tiny text per file, and from then on a text names the
 * families in order ("DejaVu Sans, Noto Emoji, UnifontExMono"): Pango takes each
 * character from the first of them that has it, ahead of any system font. This is
 * chosen over a FONTCONFIG_FILE listing a folder because that must be set in the
 * environment before fontconfig first starts and replaces the process's whole font
 * configuration; the fontfile route changes nothing else in the process.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { sfntFromWoff, woffSfntSize } from "./woff.js";

const require = createRequire(import.meta.url);
const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

const DEJAVU_DIR = path.join(packageDir("dejavu-fonts-ttf"), "ttf");
export const FONT_FILES = {
  regular: path.join(DEJAVU_DIR, "DejaVuSans.ttf"),
  bold: path.join(DEJAVU_DIR, "DejaVuSans-Bold.ttf"),
  emoji: path.join(
    packageDir("@expo-google-fonts/noto-emoji"),
    "400Regular",
    "NotoEmoji_400Regular.ttf",
  ),
  /** WOFF: loaded through unwrappedFont(). */
  unifontWoff: path.join(
    packageDir("@fontsource/unifontex"),
    "files",
    "unifontex-latin-400-normal.woff",
  ),
};

/** Families in fallback order, for a Pango font description. */
export const FAMILIES = "DejaVu Sans, Noto Emoji, UnifontExMono";
export const FAMILIES_BOLD = "DejaVu Sans, Noto Emoji, UnifontExMono Bold";

/** What the last sandboxFontsReady() loaded, and what it could not (for diagnostics). */
export const sandboxFontStatus: { loaded: string[]; failed: string[] } = {
  loaded: [],
  failed: [],
};

export type SandboxFont = "regular" | "bold" | "emoji" | "unifont";
const ALL_FONTS: readonly SandboxFont[] = ["regular", "bold", "emoji", "unifont"];

let ready: Promise<void> | undefined;

/**
 * Resolves once the sandbox's fonts are known to Pango in this process. The first call
 * decides which fonts that is (all unless told: a test withholds some to see what a
 * missing glyph looks like); later calls wait for the same loading.
 */
export function sandboxFontsReady(fonts: readonly SandboxFont[] = ALL_FONTS): Promise<void> {
  ready ??= loadFonts(fonts);
  return ready;
}

async function loadFonts(fonts: readonly SandboxFont[]): Promise<void> {
  const files: string[] = [];
  for (const font of fonts) {
    if (font !== "unifont") {
      files.push(FONT_FILES[font]);
      continue;
    }
    try {
      files.push(await unwrappedFont(FONT_FILES.unifontWoff));
    } catch (err) {
      // No writable temp directory: CJK then draws as missing-glyph boxes, the rest as usual.
      sandboxFontStatus.failed.push(`${FONT_FILES.unifontWoff}: ${String(err)}`);
    }
  }
  for (const fontfile of files) {
    try {
      // libvips registers the file with fontconfig on the first text that names it.
      await sharp({ text: { text: ".", font: "DejaVu Sans 8", fontfile } })
        .raw()
        .toBuffer();
      sandboxFontStatus.loaded.push(fontfile);
    } catch (err) {
      // Placeholders with a font short still beat no placeholders.
      sandboxFontStatus.failed.push(`${fontfile}: ${String(err)}`);
    }
  }
}

/** The WOFF's fonts as a TTF in the temp directory, written once per content. */
async function unwrappedFont(woffPath: string): Promise<string> {
  const woff = await readFile(woffPath);
  const digest = createHash("sha256").update(woff).digest("hex").slice(0, 16);
  const dir = path.join(os.tmpdir(), "darkroom-sandbox-fonts");
  const file = path.join(dir, `${path.basename(woffPath, ".woff")}-${digest}.ttf`);
  const existing = await stat(file).catch(() => undefined);
  if (existing?.size === woffSfntSize(woff)) return file;
  const ttf = await sfntFromWoff(woff);
  await mkdir(dir, { recursive: true });
  // Written beside and renamed, so a concurrent process never sees half a font.
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, ttf);
  await rename(tmp, file);
  return file;
}
