/** Uploaded files' pure parts: recognising our links, stored names, content checks, base64. */
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { newFileId } from "../../src/core/ids.js";
import { decodeBase64Data, FileApiError } from "../../src/http/routes/uploads.js";
import {
  checkUploadContent,
  ownUploadId,
  storedFileName,
  UploadContentError,
} from "../../src/media/uploads.js";

describe("ownUploadId", () => {
  const id = newFileId();
  it("recognises links under the public base, a path prefix included", () => {
    expect(
      ownUploadId(`https://dr.example/files/uploads/${id}/a.png?exp=1&sig=x`, "https://dr.example"),
    ).toBe(id);
    expect(ownUploadId(`https://x.org/dr/files/uploads/${id}/a.png`, "https://x.org/dr/")).toBe(id);
  });
  it("refuses other origins, other paths and malformed ids", () => {
    expect(
      ownUploadId(`https://evil.example/files/uploads/${id}/a.png`, "https://dr.example"),
    ).toBeNull();
    expect(
      ownUploadId(`http://dr.example/files/uploads/${id}/a.png`, "https://dr.example"),
    ).toBeNull();
    expect(
      ownUploadId(`https://dr.example/files/images/${id}/a.png`, "https://dr.example"),
    ).toBeNull();
    expect(
      ownUploadId(`https://dr.example/files/uploads/file_../a.png`, "https://dr.example"),
    ).toBeNull();
    expect(ownUploadId("not a url", "https://dr.example")).toBeNull();
    expect(ownUploadId(`https://dr.example/files/uploads/${id}/a.png`, "")).toBeNull();
  });
});

describe("storedFileName", () => {
  it("keeps a safe stem and takes the content's extension", () => {
    expect(storedFileName("photo.txt", "jpg", "f")).toBe("photo.jpg");
    expect(storedFileName("../../etc/pass wd.png", "png", "f")).toBe("pass_wd.png");
    expect(storedFileName("C:\\Users\\me\\..", "gif", "f")).toBe("f.gif");
    expect(storedFileName(undefined, "webp", "file_x")).toBe("file_x.webp");
  });
});

describe("checkUploadContent", () => {
  it("names the format from the bytes", async () => {
    const gif = await sharp({ create: { width: 4, height: 3, channels: 3, background: "#000" } })
      .gif()
      .toBuffer();
    expect(await checkUploadContent(gif)).toMatchObject({
      mimeType: "image/gif",
      width: 4,
      height: 3,
    });
  });
  it("refuses text, formats outside the four, and a truncated header", async () => {
    const tiff = await sharp({ create: { width: 4, height: 3, channels: 3, background: "#000" } })
      .tiff()
      .toBuffer();
    await expect(checkUploadContent(Buffer.from("hello"))).rejects.toThrow(UploadContentError);
    await expect(checkUploadContent(tiff)).rejects.toThrow(/only JPEG, PNG, GIF and WebP/);
    await expect(
      checkUploadContent(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])),
    ).rejects.toThrow(/could not be read as a PNG/);
  });
});

describe("decodeBase64Data", () => {
  it("takes plain base64 and data URLs", () => {
    expect(decodeBase64Data("aGVsbG8=", 100).toString()).toBe("hello");
    expect(decodeBase64Data("data:image/png;base64,aGVsbG8=", 100).toString()).toBe("hello");
  });
  it("refuses what is not base64, too large before decoding, and empty", () => {
    expect(() => decodeBase64Data("data:image/png,hello", 100)).toThrow(FileApiError);
    expect(() => decodeBase64Data("a$b", 100)).toThrow(/not valid base64/);
    expect(() => decodeBase64Data("aGVsbG8=", 4)).toThrow(/larger than the limit of 4 bytes/);
    expect(() => decodeBase64Data("aGVsbA==", 4).length).not.toThrow();
    expect(() => decodeBase64Data("", 4)).toThrow(/required/);
  });
});
