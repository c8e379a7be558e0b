/**
 * Providers by name. Which provider (and which upstream account) serves a model is
 * the channels' business (src/channels/router.ts); the registry only knows the
 * implementations. Adding a provider touches its own folder and one line in
 * src/server/darkroom.ts.
 */
import type { Provider } from "./contract.js";

export class ProviderRegistry {
  private readonly providers = new Map<string, Provider>();

  register(provider: Provider): this {
    this.providers.set(provider.name, provider);
    return this;
  }

  get(name: string): Provider | undefined {
    return this.providers.get(name);
  }

  names(): string[] {
    return [...this.providers.keys()];
  }
}
