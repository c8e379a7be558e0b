/**
 * Where and how Ark / ModelArk is called (Portkey's `api.ts`): one endpoint for both
 * Volcengine (`https://ark.cn-beijing.volces.com`) and BytePlus
 * (`https://ark.ap-southeast.bytepluses.com`); the operator picks the base per channel.
 */
export const ARK_IMAGES_PATH = "/api/v3/images/generations";

export function arkImagesUrl(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "") + ARK_IMAGES_PATH;
}

export function arkHeaders(apiKey: string, stream: boolean): Record<string, string> {
  return {
    authorization: `Bearer ${apiKey}`,
    "content-type": "application/json",
    accept: stream ? "text/event-stream" : "application/json",
  };
}
