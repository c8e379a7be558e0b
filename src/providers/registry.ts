/**
 * Which provider and channel serve a model. Until real upstreams are configured every
 * model is served by the built-in `sandbox` provider through one implicit channel.
 * Adding a provider touches its own folder and one line here.
 */
import type { ChannelSettings, Provider } from "./contract.js";

export interface Route {
  provider: Provider;
  channel: ChannelSettings;
}

export class ProviderRegistry {
  private readonly providers = new Map<string, Provider>();

  register(provider: Provider): this {
    this.providers.set(provider.name, provider);
    return this;
  }

  get(name: string): Provider | undefined {
    return this.providers.get(name);
  }

  /** The route for a model, or null when no channel serves it (503 at submission). */
  route(_model: string): Route | null {
    const sandbox = this.providers.get("sandbox");
    if (!sandbox) return null;
    return {
      provider: sandbox,
      channel: { id: "sandbox", provider: "sandbox", timeoutMs: 600_000, options: {} },
    };
  }
}
